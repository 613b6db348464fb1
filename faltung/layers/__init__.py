"""Keras's layers, one module per concern (``faltung.layers.Dense`` etc.)."""

from faltung.layers.activation_layers import ELU, LeakyReLU, PReLU, ReLU, Softmax
from faltung.layers.attention import AdditiveAttention, Attention
from faltung.layers.convolutional import Conv2D, Conv2DTranspose, Convolution2D
from faltung.layers.convolutional_1d import (
    Conv1D,
    Conv1DTranspose,
    Convolution1D,
    Convolution1DTranspose,
)
from faltung.layers.core import Activation, Dense, Embedding
from faltung.layers.cropping import Cropping1D, Cropping2D
from faltung.layers.depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    SeparableConvolution1D,
    SeparableConvolution2D,
)
from faltung.layers.einsum_dense import EinsumDense
from faltung.layers.input_layer import Input, InputLayer, KerasTensor
from faltung.layers.lambda_layer import Lambda
from faltung.layers.layer import Layer
from faltung.layers.layer_normalization import (
    GroupNormalization,
    LayerNormalization,
    UnitNormalization,
)
from faltung.layers.masking import Masking
from faltung.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    concatenate,
)
from faltung.layers.multi_head_attention import MultiHeadAttention
from faltung.layers.normalization import BatchNormalization
from faltung.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from faltung.layers.preprocessing import (
    CenterCrop,
    IntegerLookup,
    Normalization,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
    StringLookup,
    TextVectorization,
)
from faltung.layers.recurrent import GRU, LSTM, SimpleRNN
from faltung.layers.regularization import Dropout, SpatialDropout1D, SpatialDropout2D
from faltung.layers.reshaping import (
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding2D,
)
from faltung.layers.wrappers import Bidirectional, TimeDistributed

# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D

__all__ = [
    "ELU", "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
    "Concatenate", "Conv2D", "Conv2DTranspose", "Convolution2D", "Dense", "Dot", "Dropout",
    "Embedding", "Flatten", "GRU", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "GlobalMaxPooling2D", "Input", "InputLayer", "KerasTensor", "LSTM", "Layer", "LeakyReLU",
    "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum", "Multiply", "PReLU", "ReLU", "Reshape",
    "SimpleRNN", "Softmax", "Subtract", "UpSampling2D", "ZeroPadding2D", "add", "concatenate",
]
__all__ += [  # preprocessing layers
    "CenterCrop", "IntegerLookup", "Normalization", "RandomContrast", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing", "StringLookup",
    "TextVectorization",
]
__all__ += [  # convolution family: 1-D, depthwise, separable, cropping, spatial dropout
    "AveragePooling1D", "AvgPool1D", "Conv1D", "Conv1DTranspose", "Convolution1D",
    "Convolution1DTranspose", "Cropping1D", "Cropping2D",
    "DepthwiseConv1D", "DepthwiseConv2D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
    "GlobalMaxPool1D", "GlobalMaxPooling1D", "MaxPool1D", "MaxPooling1D", "SeparableConv1D",
    "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "SpatialDropout1D",
    "SpatialDropout2D", "UpSampling1D",
]
__all__ += [  # sequence layers: wrappers, masking, reshaping
    "Bidirectional", "Masking", "Permute", "RepeatVector", "TimeDistributed",
]
__all__ += [  # attention, per-sample normalisations, Lambda
    "AdditiveAttention", "Attention", "EinsumDense", "GroupNormalization", "Lambda",
    "LayerNormalization", "MultiHeadAttention", "UnitNormalization",
]
