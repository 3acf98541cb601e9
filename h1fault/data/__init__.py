"""Fault data: ``collect`` (raw HDF5 from policy rollouts), ``dataset build`` (flat, labelled,
split training sets), ``dataset stats`` (validation against the recorded fault distribution) and
``dataset import`` (legacy Isaac Lab logs). Formats: ``docs/data_format.md``.

Modules: :mod:`~h1fault.data.writer` (background raw writer), :mod:`~h1fault.data.collect`,
:mod:`~h1fault.data.scan` (pass 1: episodes, labels, cross-check), :mod:`~h1fault.data.build`,
:mod:`~h1fault.data.stats` (:mod:`~h1fault.data.summary` reads, :mod:`~h1fault.data.checks`
validates, :mod:`~h1fault.data.report` reports and plots), :mod:`~h1fault.data.legacy_import`,
:mod:`~h1fault.data.synthetic` (test and benchmark files). Only collect imports torch: building
and checking datasets does not.
"""
