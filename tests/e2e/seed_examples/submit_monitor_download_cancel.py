"""The seed document's "Submitting Training Jobs", "Monitoring Job Status", "Downloading
Artifacts" and "Canceling Jobs" examples, as written, except:
- imports come from lambda_gui (not the seed's plugin paths), connect passes base_url;
- base_model is the tiny local model (model_source "local"), dataset_path the demo dataset,
  both from the environment, and quantization is "none": the seed's "int4" needs an NVIDIA
  GPU with bitsandbytes, and the simulator's instances run on this computer's CPU;
- a short max_steps keeps the CPU run to a minute.
Cancel runs on a second job (the first one has completed by then)."""

import asyncio
import os

from lambda_gui import LambdaLabsConnector, TrainingConfig


async def main() -> None:
    connector = LambdaLabsConnector()
    await connector.connect(
        {
            "api_key": os.environ["LAMBDA_API_KEY"],
            "ssh_key_path": os.environ["LAMBDA_SSH_KEY_PATH"],
            "base_url": os.environ["LAMBDA_BASE_URL"],
        }
    )

    # ### Submitting Training Jobs
    # Create training configuration
    config = TrainingConfig(
        base_model=os.environ["TINY_MODEL"],
        model_source="local",
        algorithm="lora",
        rank=16,
        alpha=32,
        dropout=0.1,
        target_modules=["q_proj", "v_proj"],
        quantization="none",
        provider="lambda_labs",
        resource_id="gpu_1x_a100",
        dataset_path=os.environ["DEMO_DATASET"],
        project_name="my-project",
        output_dir="/workspace/output",
        max_steps=20,
        batch_size=8,
        learning_rate=5e-3,
    )

    # Submit job
    job_id = await connector.submit_job(config)
    print(f"Job submitted: {job_id}")

    # ### Monitoring Job Status
    # Get job status
    status = await connector.get_job_status(job_id)
    print(f"Job status: {status.value}")

    # Stream logs in real-time
    async for log_line in connector.stream_logs(job_id):
        print(log_line)

    print(f"Final status: {(await connector.get_job_status(job_id)).value}")

    # ### Downloading Artifacts
    # Download trained adapter
    artifact_data = await connector.fetch_artifact(job_id)

    # Save to file
    with open("adapter.tar.gz", "wb") as f:
        f.write(artifact_data)
    print(f"Saved adapter.tar.gz: {len(artifact_data)} bytes")

    # ### Canceling Jobs
    job_id = await connector.submit_job(config)
    # Cancel a running job
    success = await connector.cancel_job(job_id)
    if success:
        print("Job cancelled successfully")
    print(f"Cancelled status: {(await connector.get_job_status(job_id)).value}")

    await connector.disconnect()


asyncio.run(main())
