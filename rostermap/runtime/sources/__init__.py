"""Where OneRoster records come from: a CSV package now, the REST API later."""
