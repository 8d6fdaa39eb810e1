package connectors

// KeyTemplateProblem exposes keyTemplateProblem to the external tests.
var KeyTemplateProblem = keyTemplateProblem
