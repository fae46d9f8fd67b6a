"""The names ``pygrad.nn`` and ``pygrad.reference.nn`` export (each binds them to its engine)."""

NN_NAMES: tuple[str, ...] = (
    "Module", "Sequential", "IncompatibleKeys", "Embedding", "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d",
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "AdaptiveAvgPool2d", "Upsample", "Linear",
    "MLP", "Maxout", "PReLU", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "ACTIVATIONS", "CrossEntropyLoss",
    "SVMLoss", "MulticlassHingeLoss", "MSELoss", "BCEWithLogitsLoss", "NLLLoss", "BCELoss", "HuberLoss",
    "SmoothL1Loss", "KLDivLoss", "functional", "init", "utils", "Parameter", "Identity", "Flatten", "Unflatten",
    "ModuleList", "ModuleDict", "GELU", "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Dropout",
    "MultiheadAttention", "ParameterList", "ParameterDict", "Dropout1d", "Dropout2d", "Dropout3d", "Softmax",
    "LogSoftmax", "Softmin", "SELU", "CELU", "Hardswish", "Softsign", "Tanhshrink", "GLU", "Threshold",
    "Softshrink", "Hardshrink", "PixelShuffle", "PixelUnshuffle", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d",
    "ReplicationPad2d", "CosineSimilarity", "PairwiseDistance", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d",
    "RMSNorm", "ConvTranspose1d", "Bilinear", "L1Loss", "MarginRankingLoss", "HingeEmbeddingLoss",
    "SoftMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "LPPool1d", "LPPool2d", "LocalResponseNorm", "RReLU",
    "InstanceNorm1d", "InstanceNorm2d", "MultiMarginLoss", "MultiLabelSoftMarginLoss", "LogSigmoid", "Softmax2d",
    "UpsamplingNearest2d", "UpsamplingBilinear2d", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "TransformerDecoder", "Transformer",
)
