"""What the network sees, through its own backward pass: attributions (saliency, SmoothGrad, integrated
gradients, Grad-CAM, guided backprop), adversarial examples (FGSM, PGD, fooling images) and class
visualization. Pure functions on any cnnumpy model; the math is in docs/explain.md.
"""
# attribution: saliency, smoothgrad, input_gradient, integrated_gradients (attribution.py); grad_cam,
# guided_backprop, guided_grad_cam (cam.py)
from .attribution import input_gradient, integrated_gradients, saliency, smoothgrad
from .cam import grad_cam, guided_backprop, guided_grad_cam

# attacks and visualization: fgsm, pgd, fooling_image (attack.py); class_visualization, maximize_activation
# (visualize.py)
from .attack import fgsm, fooling_image, pgd, to_input_space
from .visualize import class_visualization, maximize_activation
