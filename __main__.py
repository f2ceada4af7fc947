"""The tap Pulumi program: config -> settings -> TapStack -> exports."""

from tap_cicd.stack import define

define()
