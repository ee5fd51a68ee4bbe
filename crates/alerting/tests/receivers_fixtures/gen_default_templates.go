// Generates default_templates_{firing,resolved}.tsv: runs Alertmanager's
// template/default.tmpl and email.tmpl (copied next to this file from the
// Alertmanager repository) with Go's text/template and encoding/json over
// a hand-written model of template.Data.
// Run: GO111MODULE=off go run gen_default_templates.go [resolved] > out.tsv
package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"
	htmpl "html/template"
	"time"
)

type Pair struct{ Name, Value string }
type Pairs []Pair

func (ps Pairs) Names() Strings { var r []string; for _, p := range ps { r = append(r, p.Name) }; return r }
func (ps Pairs) Values() Strings { var r []string; for _, p := range ps { r = append(r, p.Value) }; return r }

type Strings []string

func (s Strings) Join(sep string) string { return strings.Join(s, sep) }

type KV map[string]string

func (kv KV) SortedPairs() Pairs {
	var keys []string
	for k := range kv { if k != "alertname" { keys = append(keys, k) } }
	sort.Strings(keys)
	if _, ok := kv["alertname"]; ok { keys = append([]string{"alertname"}, keys...) }
	var ps Pairs
	for _, k := range keys { ps = append(ps, Pair{k, kv[k]}) }
	return ps
}
func (kv KV) Remove(keys []string) KV { r := KV{}; for k, v := range kv { drop := false; for _, x := range keys { if x == k { drop = true } }; if !drop { r[k] = v } }; return r }
func (kv KV) Names() Strings  { return kv.SortedPairs().Names() }
func (kv KV) Values() Strings { return kv.SortedPairs().Values() }

type Alert struct {
	Status       string    `json:"status"`
	Labels       KV        `json:"labels"`
	Annotations  KV        `json:"annotations"`
	StartsAt     time.Time `json:"startsAt"`
	EndsAt       time.Time `json:"endsAt"`
	GeneratorURL string    `json:"generatorURL"`
	Fingerprint  string    `json:"fingerprint"`
}
type Alerts []Alert

func (as Alerts) Firing() []Alert   { r := []Alert{}; for _, a := range as { if a.Status == "firing" { r = append(r, a) } }; return r }
func (as Alerts) Resolved() []Alert { r := []Alert{}; for _, a := range as { if a.Status == "resolved" { r = append(r, a) } }; return r }

type Data struct {
	Receiver           string `json:"receiver"`
	Status             string `json:"status"`
	Alerts             Alerts `json:"alerts"`
	NotificationReason string `json:"notification_reason"`
	GroupLabels        KV     `json:"groupLabels"`
	CommonLabels       KV     `json:"commonLabels"`
	CommonAnnotations  KV     `json:"commonAnnotations"`
	RouteLabels        KV     `json:"routeLabels"`
	ExternalURL        string `json:"externalURL"`
}

func main() {
	resolved := len(os.Args) > 1 && os.Args[1] == "resolved"
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	end := time.Time{}
	st := "firing"
	if resolved { end = t0.Add(time.Hour); st = "resolved" }
	a1 := Alert{st, KV{"alertname": "HighCPU", "instance": "a:9100", "job": "node", "severity": "critical"}, KV{"summary": "CPU high"}, t0, end, "http://prom/graph?g0.expr=up", "fp1"}
	a2 := Alert{st, KV{"alertname": "HighCPU", "instance": "b:9100", "job": "node", "severity": "critical"}, KV{"summary": "CPU high", "description": "b is <hot>"}, t0.Add(1500 * time.Millisecond), end, "http://prom/graph?g0.expr=up", "fp2"}
	d := &Data{regexp.QuoteMeta("team.x"), st, Alerts{a1, a2}, "unknown", KV{"alertname": "HighCPU"}, KV{"alertname": "HighCPU", "job": "node", "severity": "critical"}, KV{"summary": "CPU high"}, KV{}, "http://pharos:9700"}
	funcs := template.FuncMap{"toUpper": strings.ToUpper, "join": func(sep string, s []string) string { return strings.Join(s, sep) }, "safeHtml": func(s string) string { return s }, "toJson": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err }}
	_ = url.QueryEscape
	base := template.Must(template.New("").Option("missingkey=zero").Funcs(funcs).ParseFiles("default.tmpl", "email.tmpl"))
	for _, name := range []string{"__subject", "slack.default.title", "slack.default.titlelink", "slack.default.fallback", "slack.default.color", "pagerduty.default.description", "pagerduty.default.clientURL", "opsgenie.default.message", "opsgenie.default.description", "opsgenie.default.source", "email.default.subject", "__text_alert_list"} {
		var sb strings.Builder
		var err error
		if name == "__text_alert_list" { err = base.ExecuteTemplate(&sb, name, d.Alerts) } else { err = base.ExecuteTemplate(&sb, name, d) }
		if err != nil { panic(err) }
		fmt.Printf("%s\t%q\n", name, sb.String())
	}
	var sb strings.Builder
	t2 := template.Must(template.Must(base.Clone()).New("x").Parse(`{{ .Alerts.Firing | toJson }}`))
	t2.Execute(&sb, d)
	fmt.Printf("toJson\t%q\n", sb.String())
	type Message struct { *Data; Version string `json:"version"`; GroupKey string `json:"groupKey"`; TruncatedAlerts uint64 `json:"truncatedAlerts"` }
	b, _ := json.Marshal(&Message{d, "4", "{}:{alertname=\"HighCPU\"}", 0})
	fmt.Printf("webhook\t%s\n", b)

	hb := htmpl.Must(htmpl.New("").Option("missingkey=zero").Funcs(htmpl.FuncMap(funcs)).ParseFiles("default.tmpl", "email.tmpl"))
	var hs strings.Builder
	if err := hb.ExecuteTemplate(&hs, "email.default.html", d); err != nil { panic(err) }
	fmt.Printf("email.default.html\t%q\n", hs.String())
}
