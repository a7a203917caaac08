"""Use cases. Each function is one use case: it checks the actor's role, then does its work in
one ``with uow:`` block. Most callers use the :class:`inventory_core.service.Inventory` facade,
which builds the unit of work and retries on concurrency conflicts."""
