"""The training stage: from a config and checked manifests to a run directory.

``train`` (the command) -> ``runs`` (which run: new, continued or reused) -> ``trainer`` (model,
optimizer and compiled steps under a tf.distribute strategy from ``devices``) ->
``checkpoints`` (continue exactly) -> ``budget`` (the first steps measure the machine: XLA on
or off, and with a time budget the ``plan``) -> ``loop`` (the epochs; ``decisions`` for the
learning rate and stopping, ``timing`` for the long-run warning, the budget's watch) ->
``rundir`` (the one owner of a run's files and of its summary) and ``curves`` (curves.png).
``lr_find`` (the range test, `catsdogs lr-find`) trains a throw-away model through the same
trainer; its arithmetic (rates, smoothing, stop rule, suggestion) is ``lr_range``.

May import: ``catsdogs.data``, ``catsdogs.model``, ``catsdogs.optim`` and the foundation
modules. ``rundir``, ``runs`` and ``timing`` load neither TensorFlow nor Keras, so prediction
and sweeps read runs quickly.
"""
