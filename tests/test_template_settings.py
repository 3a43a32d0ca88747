"""Every template names a dataset that exists, with params that dataset accepts."""

import pytest

from builder.gallery import templates
from builder.serialize import load
from runtime.data import DATASETS


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_template_dataset_is_known_and_valid(template):
    project = load(template.path)
    spec = DATASETS[project.dataset.name]
    spec.coerce(project.dataset.params)  # raises ParamError listing every problem
    assert set(project.recipe.roles.values()) <= set(project.networks)
