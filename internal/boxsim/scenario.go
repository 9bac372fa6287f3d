package boxsim

import (
	"errors"
	"fmt"
	"time"
)

// ScenarioKind names an attack pattern a Scenario injects.
type ScenarioKind string

// The attack patterns. Every event is an enterprise event (admin_logs and
// admin_logs_streaming); with Traffic.UserStream those with a user-stream counterpart
// are also written to the user log. Count and Over default as noted; At defaults so
// that the last event falls at the end of the traffic window (InjectScenario: the
// clock's now). Events are spread evenly over Over, with jitter, first at At and last
// at At+Over (created_at has second precision).
const (
	// ScenarioFailedLogins is a burst of Count (30) FAILED_LOGIN events for one User
	// from one IP (an attacker's) over Over (4 minutes). A failed login names the user
	// as created_by and as source, with ip_address the attempt's; Box records failures
	// as FAILED_LOGIN only (LOGIN events are successes). With Succeed, the attacker
	// then logs in: LOGIN and ADD_LOGIN_ACTIVITY_DEVICE 20 and 25 seconds after the
	// last failure, the last event at At+Over (Over must be at least 30 seconds).
	ScenarioFailedLogins ScenarioKind = "failed_logins"
	// ScenarioPasswordSpray is one FAILED_LOGIN for each of Count (25) distinct
	// employees (Targets), all from one IP, over Over (10 minutes). With Succeed the
	// last target's password works: a LOGIN 20 seconds after the last failure, at
	// At+Over.
	ScenarioPasswordSpray ScenarioKind = "password_spray"
	// ScenarioMassDownload is Count (300) DOWNLOAD events by User, of distinct files of
	// the sensitive folders, through Box Drive from the user's usual address (or IP),
	// over Over (10 minutes); counterparts ITEM_DOWNLOAD. The user's own benign
	// downloads are the baseline.
	ScenarioMassDownload ScenarioKind = "mass_download"
	// ScenarioExternalSharing is Count (40) sharing events by User over Over (15
	// minutes), repeating COLLABORATION_INVITE, COLLABORATION_INVITE, SHARE,
	// ITEM_SHARED_UPDATE: invitations (role Editor) of outsiders (Targets: personal
	// addresses, and a partner for one in four) to the user's folders, and shared
	// links created or changed with open access. Counterparts
	// COLLAB_INVITE_COLLABORATOR, ITEM_SHARED_CREATE and ITEM_SHARED_UPDATE, whose
	// file sources carry shared_link.access "open".
	ScenarioExternalSharing ScenarioKind = "external_sharing"
	// ScenarioShieldAlert is Count (1) SHIELD_ALERT events with RiskScore (85) in
	// Category (Suspicious Sessions) about User, the activity from IP (an attacker's),
	// over Over (0: all at At).
	ScenarioShieldAlert ScenarioKind = "shield_alert"
	// ScenarioPrivilegeEscalation is the co-admin's account (Actor, taken over; from an
	// attacker's IP) promoting Count (1) employees (Targets; User first when given)
	// over Over (3 minutes): for each a CHANGE_ADMIN_ROLE whose source user has role
	// "coadmin", then a GROUP_ADD_USER to the AdminGroup; last an
	// ENTERPRISE_APP_AUTHORIZATION_UPDATE authorizing an app the enterprise never
	// used.
	ScenarioPrivilegeEscalation ScenarioKind = "privilege_escalation"
	// ScenarioMassDeletion is Count (200) DELETE events by User, of distinct items of
	// the user's three folders (files, and the folders themselves as the 20th, 60th
	// and 100th), from the user's usual address (or IP), over Over (5 minutes);
	// counterparts ITEM_TRASH.
	ScenarioMassDeletion ScenarioKind = "mass_deletion"
)

// Scenario is an attack injected into traffic (EmitTraffic, InjectScenario).
type Scenario struct {
	Kind ScenarioKind
	// At is the created_at of the first event. Zero puts the last event at the end of
	// the traffic window (for InjectScenario, the clock's now).
	At time.Time
	// Over is the time from the first event to the last; zero means the kind's default.
	Over time.Duration
	// User is the login or id of the employee the scenario is about (the victim of
	// ScenarioFailedLogins, the actor of downloads, sharing and deletion, the alerted
	// user, the first promoted user). Empty picks an employee other than the admins.
	// ScenarioPasswordSpray ignores it.
	User string
	// IP is the ip_address of the attacker's events; empty means the kind's default
	// (an address on 203.0.113.0/24 for the logins, the Shield activity and the
	// escalation; the user's usual address for downloads, sharing and deletion).
	IP string
	// Count is the number of events, or of users for ScenarioPasswordSpray and
	// ScenarioPrivilegeEscalation; zero means the kind's default.
	Count int
	// RiskScore is ScenarioShieldAlert's risk score, 1 to 100 (0 means 85).
	RiskScore int
	// Category is ScenarioShieldAlert's rule category, one of ShieldCategories() (""
	// means Suspicious Sessions).
	Category string
	// Succeed ends ScenarioFailedLogins and ScenarioPasswordSpray with a successful
	// login from IP.
	Succeed bool
}

// ScenarioReport says what a scenario injected, so that a test can assert exactly
// what a detection should see.
type ScenarioReport struct {
	// Scenario is the scenario with its defaults applied (At, Over, User, IP, Count,
	// RiskScore, Category).
	Scenario Scenario
	// User is the employee the scenario is about (zero for ScenarioPasswordSpray).
	User User
	// Actor is the account whose events they are (created_by), when that is one
	// account: User, or the co-admin for ScenarioPrivilegeEscalation.
	Actor User
	// Targets are the users it reaches: the employees sprayed or promoted, the
	// outsiders invited.
	Targets []User
	// IP is the ip_address of its events.
	IP string
	// First and Last are the created_at of its first and last events.
	First, Last time.Time
	// Count is the number of enterprise events, Types counts them by event_type.
	Count int
	Types map[string]int
	// EventIDs are the event_ids of its enterprise events in created_at order (the
	// same in admin_logs and admin_logs_streaming).
	EventIDs []string
	// UserEventIDs are the event_ids of their user-stream counterparts
	// (Traffic.UserStream).
	UserEventIDs []string
}

// add records a planned event of the scenario.
func (rep *ScenarioReport) add(pl *planned) {
	if rep.Count == 0 || pl.ev.now.Before(rep.First) {
		rep.First = pl.ev.now
	}
	if pl.ev.now.After(rep.Last) {
		rep.Last = pl.ev.now
	}
	rep.Count++
	rep.Types[pl.ev.eventType]++
	rep.EventIDs = append(rep.EventIDs, pl.ev.idString())
	if pl.user != nil {
		rep.UserEventIDs = append(rep.UserEventIDs, pl.user.idString())
	}
}

// InjectScenario appends one scenario's events, without benign traffic, and reports
// them: EmitTraffic with an empty window ending now.
func (s *Server) InjectScenario(sc Scenario) (ScenarioReport, error) {
	rep, err := s.EmitTraffic(Traffic{Scenarios: []Scenario{sc}})
	if err != nil {
		return ScenarioReport{}, err
	}
	return rep.Scenarios[0], nil
}

// scenarioDefaults are each kind's Count and Over.
var scenarioDefaults = map[ScenarioKind]struct {
	count int
	over  time.Duration
}{
	ScenarioFailedLogins:        {30, 4 * time.Minute},
	ScenarioPasswordSpray:       {25, 10 * time.Minute},
	ScenarioMassDownload:        {300, 10 * time.Minute},
	ScenarioExternalSharing:     {40, 15 * time.Minute},
	ScenarioShieldAlert:         {1, 0},
	ScenarioPrivilegeEscalation: {1, 3 * time.Minute},
	ScenarioMassDeletion:        {200, 5 * time.Minute},
}

// scenario plans sc's events and reports them.
func (p *planner) scenario(sc Scenario) (ScenarioReport, error) {
	def, ok := scenarioDefaults[sc.Kind]
	switch {
	case !ok:
		return ScenarioReport{}, fmt.Errorf("unknown kind %q", sc.Kind)
	case sc.Over < 0:
		return ScenarioReport{}, errors.New("negative Over")
	case sc.Count < 0:
		return ScenarioReport{}, errors.New("negative Count")
	case sc.RiskScore < 0 || sc.RiskScore > 100:
		return ScenarioReport{}, fmt.Errorf("risk score %d is not within 1 to 100", sc.RiskScore)
	case sc.Kind == ScenarioPasswordSpray && sc.Count > len(p.d.employees):
		return ScenarioReport{}, fmt.Errorf("cannot spray %d users: there are %d employees", sc.Count, len(p.d.employees))
	case sc.Kind == ScenarioPrivilegeEscalation && sc.Count > len(p.d.employees)-2:
		return ScenarioReport{}, fmt.Errorf("cannot promote %d users: %d employees are not admins", sc.Count, len(p.d.employees)-2)
	}
	if sc.Count == 0 {
		sc.Count = def.count
	}
	if sc.Over == 0 {
		sc.Over = def.over
	}
	// With Succeed the failures end this long before the last event.
	var tail time.Duration
	if sc.Succeed {
		switch sc.Kind {
		case ScenarioFailedLogins:
			tail = 25 * time.Second
		case ScenarioPasswordSpray:
			tail = 20 * time.Second
		}
		if sc.Over < tail+5*time.Second {
			return ScenarioReport{}, fmt.Errorf("too short an Over (%s) for Succeed", sc.Over)
		}
	}
	if sc.At.IsZero() {
		sc.At = p.to.Add(-sc.Over)
	}
	r, d := p.r, p.d

	var ui int
	if sc.Kind != ScenarioPasswordSpray {
		if sc.User == "" {
			ui = 2 + r.IntN(len(d.employees)-2)
		} else if ui, ok = d.find(sc.User); !ok {
			return ScenarioReport{}, fmt.Errorf("no employee %q", sc.User)
		}
		sc.User = d.employees[ui].login
	}
	e := &d.employees[ui]
	if sc.IP == "" {
		switch sc.Kind {
		case ScenarioMassDownload, ScenarioExternalSharing, ScenarioMassDeletion:
			sc.IP = e.addressAt(r, sc.At)
		default:
			sc.IP = attackerAddress(r)
		}
	}

	if sc.Kind == ScenarioShieldAlert {
		if sc.RiskScore == 0 {
			sc.RiskScore = 85
		}
		if sc.Category == "" {
			sc.Category = shieldRules[shieldSessions].category
		}
	}

	rep := ScenarioReport{Scenario: sc, IP: sc.IP, Types: make(map[string]int)}
	if sc.Kind != ScenarioPasswordSpray {
		rep.User, rep.Actor = e.user(), e.user()
	}
	times := p.spread(sc.At, sc.Over-tail, sc.Count)
	switch sc.Kind {
	case ScenarioFailedLogins:
		for _, at := range times {
			ev := p.failedLogin(e.person, at, sc.IP)
			p.add(&ev, "", &rep)
		}
		if sc.Succeed {
			p.takeover(e.person, times[len(times)-1], sc.IP, &rep)
		}
	case ScenarioPasswordSpray:
		var victim person
		for k, i := range r.Perm(len(d.employees))[:sc.Count] {
			victim = d.employees[i].person
			rep.Targets = append(rep.Targets, victim.user())
			ev := p.failedLogin(victim, times[k], sc.IP)
			p.add(&ev, "", &rep)
		}
		if sc.Succeed {
			ev := p.event("LOGIN", times[len(times)-1].Add(20*time.Second), victim, sc.IP)
			p.add(&ev, "", &rep)
		}
	case ScenarioMassDownload:
		files := p.sensitiveFiles(sc.Count)
		for k, at := range times {
			ev := p.event("DOWNLOAD", at, e.person, sc.IP)
			p.item(&ev, files[k][0], files[k][1])
			ev.service = 2 // Box Drive
			p.add(&ev, "ITEM_DOWNLOAD", &rep)
		}
	case ScenarioExternalSharing:
		p.externalSharing(e, times, &rep)
	case ScenarioShieldAlert:
		if err := p.shieldAlerts(e, times, &rep); err != nil {
			return ScenarioReport{}, err
		}
	case ScenarioPrivilegeEscalation:
		p.escalation(ui, sc, &rep)
	case ScenarioMassDeletion:
		for k, at := range times {
			fi := e.folders[k%len(e.folders)]
			ev := p.event("DELETE", at, e.person, sc.IP)
			p.item(&ev, fi, (k/len(e.folders))%filesPerFolder)
			if k%40 == 19 && k < 40*len(e.folders) { // each of the three folders once
				ev.itemKind = itemFolder
			}
			p.add(&ev, "ITEM_TRASH", &rep)
		}
	}
	return rep, nil
}

// spread returns n instants from at to at+over, evenly spaced with jitter, in order.
func (p *planner) spread(at time.Time, over time.Duration, n int) []time.Time {
	times := make([]time.Time, n)
	if n == 1 {
		times[0] = at
		return times
	}
	step := over / time.Duration(n-1)
	jitter := step / 3 // within ±step/6, so that the order holds
	for k := range times {
		t := at.Add(step * time.Duration(k))
		if k > 0 && k < n-1 && jitter > 0 {
			t = t.Add(time.Duration(p.r.Int64N(int64(jitter))) - jitter/2)
		}
		times[k] = t
	}
	times[n-1] = at.Add(over)
	return times
}

// takeover plans the attacker's successful login as victim after a burst.
func (p *planner) takeover(victim person, last time.Time, ip string, rep *ScenarioReport) {
	ev := p.event("LOGIN", last.Add(20*time.Second), victim, ip)
	p.add(&ev, "", rep)
	ev = p.event("ADD_LOGIN_ACTIVITY_DEVICE", last.Add(25*time.Second), victim, ip)
	randomBytes(p.r, ev.device[:])
	p.add(&ev, "", rep)
}

// sensitiveFiles returns n distinct files of the sensitive folders, as catalog
// folder and file indexes.
func (p *planner) sensitiveFiles(n int) [][2]int {
	var folders []int
	for i := range p.d.folders {
		if p.d.folders[i].sensitive {
			folders = append(folders, i)
		}
	}
	out := make([][2]int, n)
	for k := range out {
		out[k] = [2]int{folders[k%len(folders)], (k / len(folders)) % filesPerFolder}
	}
	return out
}

// externalSharing plans invitations of outsiders and open shared links by e.
func (p *planner) externalSharing(e *employee, times []time.Time, rep *ScenarioReport) {
	d := p.d
	seen := make(map[string]bool)
	invites := 0
	for k, at := range times {
		switch k % 4 {
		case 0, 1:
			invitee := d.personal[invites%len(d.personal)]
			if invites%4 == 3 {
				invitee = d.partners[invites%len(d.partners)]
			}
			invites++
			if !seen[invitee.id] {
				seen[invitee.id] = true
				rep.Targets = append(rep.Targets, invitee.user())
			}
			p.invite(&collab{actor: e.person, invitee: invitee, at: at, ip: rep.IP, folder: e.folders[k%len(e.folders)]}, rep)
		case 2:
			p.share(e, "SHARE", at, rep.IP, 0, rep)
		default:
			p.share(e, "ITEM_SHARED_UPDATE", at, rep.IP, 0, rep)
		}
	}
}

// shieldAlerts plans Shield alerts about e.
func (p *planner) shieldAlerts(e *employee, times []time.Time, rep *ScenarioReport) error {
	sc := &rep.Scenario
	category := -1
	for i, rule := range shieldRules {
		if rule.category == sc.Category {
			category = i
		}
	}
	if category < 0 {
		return fmt.Errorf("unknown Shield category %q", sc.Category)
	}
	for _, at := range times {
		ev := p.event("SHIELD_ALERT", at, p.g.anonymous, sc.IP)
		p.item(&ev, p.folderOf(e), p.r.IntN(filesPerFolder))
		randomBytes(p.r, ev.sha1[:])
		ev.fileVersion = 900000000 + p.r.IntN(99999999)
		ev.riskScore = sc.RiskScore
		ev.alertID = 100000 + p.r.IntN(900000)
		ev.shield = shieldHit{category: category, user: e.person, ip: sc.IP, baseline: 5 + p.r.IntN(20)}
		ev.shield.files = ev.shield.baseline*20 + p.r.IntN(300)
		p.add(&ev, "", rep)
	}
	return nil
}

// escalation plans the co-admin's account promoting employees.
func (p *planner) escalation(ui int, sc Scenario, rep *ScenarioReport) {
	d, r := p.d, p.r
	actor := d.employees[1].person
	rep.Actor = actor.user()
	targets := []int{ui}
	for _, i := range r.Perm(len(d.employees) - 2) {
		if len(targets) == sc.Count {
			break
		}
		if i+2 != ui {
			targets = append(targets, i+2)
		}
	}
	targets = targets[:sc.Count]
	times := p.spread(sc.At, sc.Over, 2*len(targets)+1)
	for k, i := range targets {
		target := d.employees[i].person
		rep.Targets = append(rep.Targets, target.user())
		ev := p.event("CHANGE_ADMIN_ROLE", times[2*k], actor, sc.IP)
		ev.other, ev.adminRole = target, "coadmin"
		p.add(&ev, "", rep)
		ev = p.event("GROUP_ADD_USER", times[2*k+1], actor, sc.IP)
		ev.other, ev.group = target, group{d.adminGroup.ID, d.adminGroup.Name}
		p.add(&ev, "", rep)
	}
	ev := p.event("ENTERPRISE_APP_AUTHORIZATION_UPDATE", times[len(times)-1], actor, sc.IP)
	var key [32]byte
	randomTokenBytes(r, key[:])
	ev.app = app{"Data Export Helper", string(key[:])}
	p.add(&ev, "", rep)
}
