"""The bound beyond which a BOLD value is refused, shared by prepare's readers and training's
validation of a prepared file (a module of its own so that training imports no NIfTI reader).

No scanner or preprocessing writes values this large: one such voxel overflowed a run's
z-scoring and stored the whole run as zeros, and one in a prepared file made the validation
loss infinite in a run that still said it finished.
"""

ABSURD_VALUE = 1e10
