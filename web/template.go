package web

import "html/template"

// asCSS and asJS mark the embedded style and script as trusted: they are
// compiled into the binary, never built from input.
func asCSS(s string) template.CSS { return template.CSS(s) }
func asJS(s string) template.JS   { return template.JS(s) }
