from tests.support.pinned import pinned_python
from tests.support.world import trained, training_url, world

__all__ = ["pinned_python", "trained", "training_url", "world"]
