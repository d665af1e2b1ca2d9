"""The sweep stage: many training runs as one Optuna study.

``run`` (the command) reads the sweep file (``spec``) into a ``design`` (a ``Grid`` or a
``Search``), checks that the output ``folder`` is this sweep's, opens the study in its
``storage``, gives cut-off trials back (``processes``), and lets workers take ``trials``, each
a `catsdogs train` process in its own run directory; ``results`` turns the study into
trials.csv, summary.csv, sweep.png and sweep.md.

May import: ``catsdogs.predict``, ``catsdogs.training`` (the run directory and its summary,
durations; not the trainer: trials run in their own processes), ``catsdogs.data`` and the
foundation modules.
"""

STORAGE_VARIABLE = "CATSDOGS_STORAGE"  # --storage's value where the option is not given
