"""What the network sees, through its own backward pass: attributions (saliency, SmoothGrad, integrated
gradients, Grad-CAM, guided backprop), adversarial examples (FGSM, PGD, fooling images) and class
visualization. Pure functions on any cnnumpy model; the math is in docs/explain.md.
"""
from .attack import fgsm, fooling_image, pgd, to_input_space
from .attribution import input_gradient, integrated_gradients, saliency, smoothgrad
from .cam import grad_cam, guided_backprop, guided_grad_cam
from .visualize import class_visualization, maximize_activation

__all__ = [
    # attributions (attribution.py, cam.py)
    "input_gradient", "saliency", "smoothgrad", "integrated_gradients", "grad_cam", "guided_backprop",
    "guided_grad_cam",
    # adversarial examples (attack.py)
    "fgsm", "pgd", "fooling_image", "to_input_space",
    # visualization (visualize.py)
    "class_visualization", "maximize_activation",
]
