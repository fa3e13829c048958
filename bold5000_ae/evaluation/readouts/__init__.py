"""Read-out baselines added one module each: ``<name>.py`` registers the read-out ``<name>``
(``readout_registry.register``) on import, and ``classification.baselines`` naming it imports
it (``readout_registry.selected``)."""
