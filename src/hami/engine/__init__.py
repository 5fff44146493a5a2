"""The pure scheduling engine: pod plans, pod fit, scores, usage, policies, cluster state and
offline simulation. No I/O, no clock, no asyncio; the scheduler service (``hami.scheduler``) and
``hami simulate`` drive it. It sees vendors only through :mod:`hami.device.registry`."""
