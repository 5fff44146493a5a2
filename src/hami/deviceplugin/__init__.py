"""The NVIDIA device plugin: the bridge from the scheduler's decision to the container.

kubelet talks to it over the v1beta1 device-plugin gRPC API (:mod:`.service`, :mod:`.kubelet`);
the scheduler talks to it only through annotations (:mod:`.register` publishes the inventory,
:mod:`.pending` consumes the pod's assignment). :mod:`.allocate` and :mod:`.inventory` are pure;
:mod:`.app` wires everything for the CLI (``hami device-plugin``) and the tests.
"""
