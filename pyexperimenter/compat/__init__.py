"""PyExperimenter 1.4's public surface, under our package name.

`pyexperimenter.experimenter`, `.result_processor`, `.experiment_status`, `.exceptions` and
`.utils` are thin modules that re-export from here, so replacing `py_experimenter` by
`pyexperimenter` in a user's imports is the whole migration. Behaviour that must follow the
original tool lives in this package only; the native API (`pyexperimenter.Experimenter`)
does not depend on it.
"""
