from tests.support.world import trained, training_url, world

__all__ = ["trained", "training_url", "world"]
