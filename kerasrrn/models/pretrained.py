"""ImageNet weights for the backbone, copied by layer name from `keras.applications`."""

import keras

from kerasrrn.choices import check_weights

# One per `kerasrrn.choices.IMAGENET_DEPTHS`.
APPLICATIONS = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
    152: keras.applications.ResNet152,
}


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be downloaded or read."""


def load_backbone_weights(model, depth, width, weights):
    """Copies ResNet weights into `model`'s layers of the same name.

    Args:
        model: a keras.Model whose backbone layers are named as `keras.applications.ResNet*`.
        depth: int, the backbone depth (50, 101 or 152 have ImageNet weights).
        width: float, the width multiplier; ImageNet weights need 1.0.
        weights: `"imagenet"` (downloaded by Keras, cached in ~/.keras) or a path to a
            `.h5`/`.weights.h5` file of the matching `keras.applications` model without top.

    Returns:
        int, the number of layers whose weights were copied.
    """
    check_weights(depth, width, weights)
    try:
        source = APPLICATIONS[depth](include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as error:  # urllib/HTTP errors differ by backend and Python version.
        if weights == "imagenet":
            raise WeightsUnavailableError(
                f"--weights imagenet: could not download ResNet-{depth} ImageNet weights ({error}). "
                "Offline, download resnet"
                f"{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and pass its path "
                "with --weights PATH, or use --weights none"
            ) from error
        raise WeightsUnavailableError(f"--weights {weights}: could not load ({error})") from error
    return copy_weights_by_name(source, model)


def copy_weights_by_name(source, target):
    """Copies the weights of every layer of `source` into the layer of `target` with the same
    name. Returns the number of layers copied."""
    target_layers = {layer.name: layer for layer in target.layers}
    copied = 0
    for layer in source.layers:
        if layer.weights and layer.name in target_layers:
            target_layers[layer.name].set_weights(layer.get_weights())
            copied += 1
    return copied
