"""Lambda GUI: fine-tune LLMs with LoRA / QLoRA on Lambda Cloud GPUs.

Public API (the seed's contract): LambdaLabsConnector, TrainingConfig, JobStatus, Resource,
PricingInfo. The connector is imported lazily so `import lambda_gui` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_gui.core.models import JobPhase, JobStatus, PricingInfo, Resource, TrainingConfig

if TYPE_CHECKING:
    from lambda_gui.services.connector import LambdaLabsConnector

# A constant, not importlib.metadata: a frozen app carries no dist-info. A test keeps it equal
# to pyproject.toml's version.
__version__ = "0.1.0"

__all__ = [
    "JobPhase",
    "JobStatus",
    "LambdaLabsConnector",
    "PricingInfo",
    "Resource",
    "TrainingConfig",
]


def __getattr__(name: str) -> Any:
    if name == "LambdaLabsConnector":
        from lambda_gui.services.connector import LambdaLabsConnector

        return LambdaLabsConnector
    raise AttributeError(name)
