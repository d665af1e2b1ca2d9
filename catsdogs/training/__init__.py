"""The training stage: from a config and checked manifests to a run directory.

``train`` (the command) -> ``runs`` (which run: new, continued or reused) -> ``trainer`` (model,
optimizer and compiled steps under a tf.distribute strategy from ``devices``) ->
``checkpoints`` (continue exactly) -> ``budget`` (the first steps measure the machine: XLA on
or off, and with a time budget the ``plan``) -> ``loop`` (the epochs) calling ``hooks`` (the
record of each epoch, ``decisions`` for the learning rate and stopping, the budget's watch,
``long_run``'s warning, TensorBoard's ``board``, the bar) ->
``rundir`` (the one owner of a run's files and of its summary) and ``curves`` (curves.png).
``lr_find`` (the range test, `catsdogs lr-find`) trains a throw-away model through the same
trainer; its arithmetic (rates, smoothing, stop rule, suggestion) is ``lr_range``.

May import: ``catsdogs.data``, ``catsdogs.model``, ``catsdogs.optim`` and the foundation
modules. ``rundir``, ``runs`` and ``long_run`` load neither TensorFlow nor Keras, so prediction
and sweeps read runs quickly.
"""

# Set to 0 by a command that runs `catsdogs train` as one of its steps (a sweep's trials): the
# run's "next:" commands are then that command's to give, once.
NEXT_VARIABLE = "CATSDOGS_NEXT"
