package boxsim

import (
	"strconv"
	"strings"
	"time"
)

// Box Shield threat detection alerts (shield-alert-events.md): a SHIELD_ALERT event
// created by the anonymous user, with a null source and the alert in
// additional_details.shield_alert. The shapes of alert_summary differ per rule
// category; the values here are the simulator's own.
const (
	shieldLocations = iota // Suspicious Locations: alert_activities
	shieldSessions         // Suspicious Sessions: description, sessions
	shieldDownload         // Anomalous Download: periods, delta, download_ips
	shieldMalware          // Malicious Content: upload_activity, malware_info
)

// shieldRules are the enterprise's Shield rules, one per category.
var shieldRules = [...]struct {
	category, name string
	id             int
}{
	shieldLocations: {"Suspicious Locations", "Sign-in from an unexpected country", 4101},
	shieldSessions:  {"Suspicious Sessions", "Unusual session for this user", 4102},
	shieldDownload:  {"Anomalous Download", "Downloads far above weekly baseline", 4103},
	shieldMalware:   {"Malicious Content", "Malware found in uploaded files", 4104},
}

// ShieldCategories returns the rule categories of Box Shield's threat detection
// alerts (additional_details.shield_alert.rule_category).
func ShieldCategories() []string {
	out := make([]string, len(shieldRules))
	for i, rule := range shieldRules {
		out[i] = rule.category
	}
	return out
}

// shieldHit is what a SHIELD_ALERT says beyond its id and risk score.
type shieldHit struct {
	category int
	user     person // the alerted user; zero means the event's owner (drawn events)
	ip       string // the alerted activity's address; "" means the event's ip_address
	files    int    // Anomalous Download: files downloaded in the anomaly week
	baseline int    // Anomalous Download: files downloaded the week before
}

// shieldPriority is the priority Box gives an alert of a risk score.
func shieldPriority(risk int) string {
	switch {
	case risk >= 70:
		return "high"
	case risk >= 40:
		return "medium"
	}
	return "low"
}

// appendShieldAlert writes a SHIELD_ALERT's additional_details.
func appendShieldAlert(w *jsonw, ev *genEvent) {
	sh := &ev.shield
	user, ip := sh.user, sh.ip
	if user.id == "" {
		user = ev.owner
	}
	if ip == "" {
		ip = ev.ip
	}
	rule := shieldRules[sh.category]
	created := ev.now.Add(-40 * time.Second)

	w.open("additional_details")
	w.open("shield_alert")
	w.num("alert_id", ev.alertID)
	w.open("alert_summary")
	switch sh.category {
	case shieldLocations:
		w.openArray("alert_activities")
		appendShieldActivity(w, ev, "Download", ip, created.Add(-2*time.Minute), false)
		w.closeArray()
	case shieldSessions:
		w.key("description")
		w.b = append(w.b, `"First connection from `...)
		w.b = append(w.b, ip...)
		w.b = append(w.b, ` in the prior month; new user agent; `...)
		w.b = strconv.AppendInt(w.b, int64(1200+sh.files*7), 10)
		w.b = append(w.b, ` km from the previous event 3 minutes earlier"`...)
		w.b = append(w.b, ',')
		w.openArray("sessions")
		w.open("")
		w.openArray("activities")
		appendShieldActivity(w, ev, "Preview", ip, created.Add(-3*time.Minute), false)
		w.closeArray()
		w.str("session_type", "suspicious")
		w.close()
		w.open("")
		w.openArray("activities")
		appendShieldActivity(w, ev, "Item Modified", "81.2.69.142", created.Add(-6*time.Minute), false)
		w.closeArray()
		w.str("session_type", "typical")
		w.close()
		w.closeArray()
	case shieldDownload:
		week := 7 * 24 * time.Hour
		end := ev.now.Truncate(time.Hour)
		appendShieldPeriod(w, "anomaly_period", end.Add(-week), end, sh.files)
		w.key("description")
		w.b = append(w.b, `"Downloaded `...)
		w.b = strconv.AppendInt(w.b, int64(sh.files), 10)
		w.b = append(w.b, ` files this week against `...)
		w.b = strconv.AppendInt(w.b, int64(sh.baseline), 10)
		w.b = append(w.b, ` the week before"`...)
		w.b = append(w.b, ',')
		w.num("download_delta_percent", (sh.files-sh.baseline)*100/max(sh.baseline, 1))
		w.key("download_delta_size")
		w.b = append(w.b, '"')
		w.b = strconv.AppendInt(w.b, int64((sh.files-sh.baseline)*3), 10)
		w.b = append(w.b, ` Mb"`...)
		w.b = append(w.b, ',')
		w.openArray("download_ips")
		w.open("")
		w.str("ip", ip)
		w.close()
		w.closeArray()
		appendShieldPeriod(w, "historical_period", end.Add(-2*week), end.Add(-week), sh.baseline)
	case shieldMalware:
		w.open("upload_activity")
		appendShieldActivityFields(w, ev, "Upload", ip, created.Add(-90*time.Second), true)
		w.close()
	}
	w.close()
	w.time("created_at", created)
	w.key("link")
	w.b = append(w.b, `"https://app.box.com/master/shield/alerts/`...)
	w.b = strconv.AppendInt(w.b, int64(ev.alertID), 10)
	w.b = append(w.b, '"', ',')
	if sh.category == shieldMalware {
		appendMalwareInfo(w, ev, user, created.Add(-90*time.Second))
	}
	w.str("priority", shieldPriority(ev.riskScore))
	w.num("risk_score", ev.riskScore)
	w.str("rule_category", rule.category)
	w.num("rule_id", rule.id)
	w.str("rule_name", rule.name)
	appendShieldUser(w, "user", user)
	w.close()
	w.close()
}

// appendShieldUser writes a user as Shield names one: a numeric id and the email.
func appendShieldUser(w *jsonw, k string, p person) {
	w.open(k)
	w.str("email", p.login)
	w.digits("id", p.id)
	w.str("name", p.name)
	w.close()
}

// appendShieldActivity writes one activity of an alert as an array element.
func appendShieldActivity(w *jsonw, ev *genEvent, kind, ip string, at time.Time, sha1 bool) {
	w.open("")
	appendShieldActivityFields(w, ev, kind, ip, at, sha1)
	w.close()
}

func appendShieldActivityFields(w *jsonw, ev *genEvent, kind, ip string, at time.Time, sha1 bool) {
	w.str("event_type", kind)
	appendIPInfo(w, ip)
	w.str("item_id", ev.file.id)
	w.str("item_name", ev.file.name)
	w.str("item_path", ev.folder.name)
	w.str("item_type", "file")
	w.time("occurred_at", at)
	w.str("service_name", services[ev.service].name)
	if sha1 {
		w.hex("sha1_hash", ev.sha1[:])
	}
}

// appendShieldPeriod writes an Anomalous Download alert's period.
func appendShieldPeriod(w *jsonw, k string, from, to time.Time, files int) {
	w.open(k)
	w.open("date_range")
	w.time("end_date", to)
	w.time("start_date", from)
	w.close()
	w.key("download_size")
	w.b = append(w.b, '"')
	w.b = strconv.AppendInt(w.b, int64(files*3), 10)
	w.b = append(w.b, ` Mb"`...)
	w.b = append(w.b, ',')
	w.num("downloaded_files_count", files)
	w.close()
}

// appendMalwareInfo writes a Malicious Content alert's malware_info.
func appendMalwareInfo(w *jsonw, ev *genEvent, user person, uploaded time.Time) {
	w.open("malware_info")
	w.openArray("categories")
	w.raw("", `"Trojan"`)
	w.raw("", `"Downloader"`)
	w.closeArray()
	w.str("description", "Macro document that fetches a second stage")
	w.str("detail_link", "https://threats.example.net/report/")
	w.str("family", "Docfetch")
	w.time("file_created", uploaded)
	appendShieldUser(w, "file_created_by", user)
	w.hex("file_hash", ev.sha1[:])
	w.str("file_hash_type", "SHA-1")
	w.digits("file_id", ev.file.id)
	w.str("file_name", ev.file.name)
	w.num("file_size_bytes", ev.file.size)
	w.num("file_version", ev.fileVersion)
	w.time("file_version_uploaded", uploaded)
	appendShieldUser(w, "file_version_uploaded_by", user)
	w.time("first_seen", uploaded.Add(-36*time.Hour))
	w.time("last_seen", uploaded)
	w.str("malware_name", "Docfetch.B")
	w.str("status", "Malicious")
	w.openArray("tags")
	w.raw("", `"FILE_MALICIOUS_EXECUTION"`)
	w.closeArray()
	w.close()
}

// appendIPInfo writes where an address is, as Shield's ip_info does.
func appendIPInfo(w *jsonw, ip string) {
	g := geoOf(ip)
	w.open("ip_info")
	w.str("city_name", g.city)
	w.str("country_code", g.country)
	w.str("ip", ip)
	w.str("latitude", g.lat)
	w.str("longitude", g.lon)
	w.str("region_name", g.region)
	w.str("registrant", g.registrant)
	w.close()
}

type geo struct{ city, region, country, lat, lon, registrant string }

// geoOf places the addresses the simulator uses (made-up registrants).
func geoOf(ip string) geo {
	switch {
	case strings.HasPrefix(ip, "81.2.69."):
		return geo{"London", "England", "GB", "51.5142", "-0.0931", "Example Telecom UK"}
	case strings.HasPrefix(ip, "216.160.83."):
		return geo{"Milton", "Washington", "US", "47.2513", "-122.3149", "Example Fiber"}
	case strings.HasPrefix(ip, "89.160.20."):
		return geo{"Linköping", "Östergötland", "SE", "58.4167", "15.6167", "Example Bredband"}
	case strings.HasPrefix(ip, "175.16.199."):
		return geo{"Changchun", "Jilin", "CN", "43.8800", "125.3228", "Example Net CN"}
	case strings.HasPrefix(ip, "203.0.113."):
		return geo{"Chisinau", "Chisinau", "MD", "47.0056", "28.8575", "Example VPS Hosting"}
	case strings.HasPrefix(ip, "198.51.100."), strings.HasPrefix(ip, "2001:db8:"):
		return geo{"San Mateo", "California", "US", "37.5630", "-122.3255", "Example Cable"}
	}
	return geo{"", "", "", "", "", "Unknown"}
}
