//! Go `text/template` language for rule annotations and notification templates.
