"""The seed document's "Connecting", "Listing Available Resources" and "Getting Pricing
Information" examples, as written, with `from lambda_gui import ...` and `base_url` added.
Credentials come from the environment (a running `python -m lambda_gui.simulator`)."""

import asyncio
import os

from lambda_gui import LambdaLabsConnector


async def main() -> None:
    # ### Connecting to Lambda Labs
    connector = LambdaLabsConnector()

    # Connect with API key
    await connector.connect(
        {
            "api_key": os.environ["LAMBDA_API_KEY"],
            "ssh_key_path": os.environ["LAMBDA_SSH_KEY_PATH"],  # Optional
            "base_url": os.environ["LAMBDA_BASE_URL"],
        }
    )

    # Verify connection
    is_connected = await connector.verify_connection()
    print(f"connected: {is_connected}")

    # ### Listing Available Resources
    # Get all available GPU instances
    resources = await connector.list_resources()

    for resource in resources:
        print(f"{resource.name}: {resource.gpu_type} - ${resource.hourly_rate}/hr")
        print(f"  VRAM: {resource.vram_gb}GB")
        print(f"  Available: {resource.available}")

    # ### Getting Pricing Information
    # Get pricing for specific instance type
    pricing = await connector.get_pricing("gpu_1x_a100")

    print(f"Price: ${pricing.price_per_hour}/hr")
    print(f"Billing: Every {pricing.billing_increment_seconds}s")
    print(f"Minimum charge: {pricing.minimum_charge_seconds}s")

    await connector.disconnect()


asyncio.run(main())
