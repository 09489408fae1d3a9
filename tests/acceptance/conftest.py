from tests.support.world import trained

__all__ = ["trained"]
