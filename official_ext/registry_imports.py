"""Imports everything that registers (Model Garden's convention: importing this is all a script
needs): Model Garden's own vision registrations, this project's backbone builders and the
`act_image_classification` experiment."""
# pylint: disable=unused-import
from official.vision import registry_imports  # noqa: F401

import models  # noqa: F401  (registers every backbone builder of models/)
from official_ext.configs import image_classification  # noqa: F401  (act_image_classification)
from official_ext import task  # noqa: F401  (training experiments and their task; issue 4)
