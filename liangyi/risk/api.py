"""REST endpoints of this chain (INTERFACES.md)."""

urlpatterns: list = []
