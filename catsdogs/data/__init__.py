"""The data stage: from a source (Kaggle, the PetImages zip, a folder or zip of the user's) to
checked manifests, and from manifests to batches.

sources/kaggle/download -> extract -> layout (labels from names) -> validate (both decoders,
sharing ``images`` with training) -> splits -> ``prepare`` writes the manifests through
``manifests``, their one reader and writer; ``pipeline`` turns a manifest into tf.data batches,
which ``show_batch`` draws (`catsdogs show-batch`).

May import: the foundation modules (``catsdogs.errors``, ``files``, ``paths``, ``process``,
``progress``,
``config``) and itself. Nothing here knows about models, runs or sweeps.
"""
