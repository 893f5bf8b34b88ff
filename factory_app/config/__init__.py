"""The plant file (YAML), validated into typed models: ``plant`` (assets, their facts,
operators, the simulated plant), ``rules`` (the control rules' models), ``loader``
(reading the file, errors that name file, line and key). Import from here."""

from factory_app.config.base import MAX_RULE_DEADLINE_S, ConfigError
from factory_app.config.loader import load_plant
from factory_app.config.plant import (Asset, AssetType, MethodSpec, Operator, PlantConfig, Production, ReadTag,
                                      Security, SimSecurity, SimSettings, WriteTag)
from factory_app.config.rules import AutoResetRule, InterlockRule, Rule, ThermostatRule, rule_refs

__all__ = ["MAX_RULE_DEADLINE_S", "Asset", "AssetType", "AutoResetRule", "ConfigError", "InterlockRule",
           "MethodSpec", "Operator", "PlantConfig", "Production", "ReadTag", "Rule", "Security", "SimSecurity",
           "SimSettings", "ThermostatRule", "WriteTag", "load_plant", "rule_refs"]
