"""The prediction stage: one path from a model to P(dog) per image (``predictor``: find the model,
load it with the input it was trained on, check every image, predict), and its thin users:
``submission`` (a Kaggle file), ``photos`` (your own pictures), ``evaluation`` (scores on
labelled images) and ``report`` (a run's figures and report.md; ``tiles`` draws its images
beside their ``gradcam`` maps); ``command`` chooses between a submission and photos for
`catsdogs predict`, ``inputs`` finds the images.

May import: ``catsdogs.training`` (the run directory; nothing that loads TensorFlow at import),
``catsdogs.model``, ``catsdogs.data`` and the foundation modules. Keras and TensorFlow are
imported where a model is loaded or run, so bad arguments are reported in well under a second.
"""

CLIP = 0.005  # a submission's P(dog) kept in [0.005, 0.995] for the log-loss board
# Test-time augmentation for predict, evaluate and report alike, so their numbers agree: each
# image is also seen mirrored and the two P(dog) averaged. On by default: it lowered the test
# log loss at every time budget measured (docs/benchmarks.md) for twice the prediction time.
TTA = True
