"""SLO as code: definitions from the journeys' declarations and the metric contract,
rendered as Terraform, Datadog API JSON and OpenSLO; a lint for existing Terraform; local status;
a backtest of the exported alerts against incidents; error-budget policies and the deploy gate.
"""
