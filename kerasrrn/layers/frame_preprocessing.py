"""ImageNet preprocessing inside the model, so training, evaluation and serving agree."""

import keras
from keras import ops

# Channel means of ImageNet in RGB order, as used by `keras.applications.resnet`
# ("caffe" mode: RGB -> BGR, subtract the means, no scaling).
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="kerasrrn")
class FramePreprocessing(keras.layers.Layer):
    """Turns RGB pixel values in [0, 255] into what `keras.applications.ResNet50` expects.

    Equals `keras.applications.resnet.preprocess_input` ("caffe" mode): RGB -> BGR, minus the
    ImageNet channel means. Living inside the model keeps ImageNet weights usable and makes
    an exported model take raw pixels.

    Call arguments:
        inputs: tensor `(..., 3)`, RGB pixel values in [0, 255], any numeric dtype.

    Returns:
        Tensor `(..., 3)` in the layer's compute dtype.
    """

    def call(self, inputs):
        pixels = ops.cast(inputs, self.compute_dtype)
        mean = ops.convert_to_tensor(IMAGENET_MEAN_RGB, dtype=self.compute_dtype)
        return ops.flip(pixels - mean, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
