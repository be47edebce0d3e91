"""The diffusers base classes satgeo's networks subclass, as the type checker should see them.

diffusers' model classes get most of their surface (``config``, ``to``, ``load_state_dict``,
submodules built in ``__init__``) through mixins and decorators mypy cannot follow, so every
attribute access on a subclass would be an error. Under type checking they are ``Any`` here (a
genuinely untyped third-party API); at run time they are diffusers' own classes. Only modules
that already need diffusers import this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    ConfigMixin: Any
    ControlNetModel: Any
    ModelMixin: Any
    UNet2DConditionModel: Any
    # annotation-only (imported under TYPE_CHECKING by their users; loaded lazily at run time)
    AutoencoderKL: Any
    CLIPTextModel: Any
    CLIPTokenizer: Any
else:
    from diffusers import ControlNetModel, UNet2DConditionModel
    from diffusers.configuration_utils import ConfigMixin
    from diffusers.models.modeling_utils import ModelMixin

__all__ = ["ConfigMixin", "ControlNetModel", "ModelMixin", "UNet2DConditionModel"]
