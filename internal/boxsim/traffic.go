package boxsim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Traffic is a stretch of simulated time for EmitTraffic: the enterprise's benign
// activity over [Start, Start+Duration), and attacks injected into it.
type Traffic struct {
	// Start is the first instant of benign traffic; zero means the clock's now minus
	// Duration, so that the traffic ends now.
	Start time.Time
	// Duration is how long benign traffic runs; zero means none (only Scenarios).
	Duration time.Duration
	// Scenarios are attacks injected into the traffic (see Scenario).
	Scenarios []Scenario
	// UserStream also writes, to the user log, the user-stream counterpart of each
	// event that has one (ITEM_DOWNLOAD for DOWNLOAD, ITEM_TRASH for DELETE, ...), as
	// the acting user's "all" stream shows it: file and folder sources with
	// path_collection, size, sha1 and shared_link.
	UserStream bool
}

// TrafficReport says what EmitTraffic appended.
type TrafficReport struct {
	// Start and End bound the benign traffic (End = Start+Duration).
	Start, End time.Time
	// Enterprise is the number of events appended to admin_logs (and, with the
	// duplicates and delays Options ask for, to admin_logs_streaming).
	Enterprise int
	// User is the number of events appended to the user log (Traffic.UserStream).
	User int
	// Benign counts the benign enterprise events by event_type.
	Benign map[string]int
	// Scenarios report each injected scenario, in the order given.
	Scenarios []ScenarioReport
}

// EmitTraffic appends the enterprise's benign traffic over a stretch of simulated
// time, with the given attack scenarios injected, and reports what it appended. It
// never waits and does not touch the clock: each event's created_at lies on the
// simulated timeline (in the enterprise's zone, -08:00), whatever the clock says.
//
// Benign traffic follows the Directory: each employee logs in a few times a day
// (one login in about sixteen follows one to three FAILED_LOGINs from the same
// address), previews, downloads (in runs of one to five files, at a rate of the
// employee's own between about 1 and 25 a weekday), uploads, edits, deletes (runs of
// one to four), copies, moves, renames, shares (SHARE; ITEM_SHARED_UPDATE, a quarter
// of them to open access) and invites collaborators (COLLABORATION_INVITE; about one
// in seven to an outsider, mostly partners, and most internal invitations are
// accepted). Activity follows office hours (-08:00) and is low at weekends; in
// office hours most events come from the employee's office address, shared with
// colleagues, otherwise from home. The admin adds users to ordinary groups, now and
// then revokes a co-admin role (CHANGE_ADMIN_ROLE to role "user") or reauthorizes the
// simulator's own app; Shield raises about one low-risk alert a day (risk score 10
// to 49); the service account uploads around the clock; anonymous users open shared
// links. Nothing benign grants an admin role or adds anyone to the AdminGroup.
//
// Events are appended in created_at order: admin_logs stays chronological, and
// admin_logs_streaming gets its disorder and duplicates per simulated minute.
// Identical Options (Seed included) and identical calls give identical events. A long
// run can exceed MaxEvents (about 1,800 events per weekday with 40 employees) or
// Retention, which trim the oldest as usual. It returns an error, and appends
// nothing, when tr or a scenario is invalid.
func (s *Server) EmitTraffic(tr Traffic) (TrafficReport, error) {
	if tr.Duration < 0 {
		return TrafficReport{}, errors.New("boxsim: Traffic.Duration is negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start := tr.Start
	if start.IsZero() {
		start = s.clock.Now().Add(-tr.Duration)
	}
	s.trafficRun++
	p := &planner{
		g:          &s.gen,
		d:          &s.dir,
		r:          rand.New(rand.NewPCG(mix64(s.opts.Seed^keyTraffic), mix64(s.trafficRun))), //nolint:gosec // reproducible simulated data
		userStream: tr.UserStream,
		from:       start,
		to:         start.Add(tr.Duration),
		benign:     make(map[string]int),
	}
	p.benignTraffic()
	rep := TrafficReport{Start: p.from, End: p.to, Benign: p.benign}
	for i, sc := range tr.Scenarios {
		sr, err := p.scenario(sc)
		if err != nil {
			return TrafficReport{}, fmt.Errorf("boxsim: scenario %d (%s): %w", i, sc.Kind, err)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	rep.Enterprise, rep.User = s.appendPlannedLocked(p.events)
	return rep, nil
}

// keyTraffic is mixed with Options.Seed for traffic and scenarios.
const keyTraffic = 0x74726166666963 // "traffic"

// appendPlannedLocked appends planned events in created_at order, a simulated minute
// per batch, and returns how many it appended to the enterprise and user logs.
func (s *Server) appendPlannedLocked(events []planned) (enterprise, user int) {
	sort.SliceStable(events, func(i, j int) bool { return events[i].ev.now.Before(events[j].ev.now) })
	admin, users := make([]entry, 0, 256), make([]entry, 0, 256)
	flush := func() {
		if len(admin) > 0 {
			s.appendEnterpriseLocked(admin)
			enterprise += len(admin)
			admin = admin[:0]
		}
		if len(users) > 0 {
			s.appendUserLocked(users)
			user += len(users)
			users = users[:0]
		}
	}
	var minute time.Time
	for i := range events {
		pl := &events[i]
		if m := pl.ev.now.Truncate(time.Minute); !m.Equal(minute) {
			flush()
			minute = m
		}
		admin = append(admin, s.gen.plannedEntry(&pl.ev))
		if pl.user != nil {
			users = append(users, s.gen.plannedEntry(pl.user))
		}
	}
	flush()
	return enterprise, user
}

// plannedEntry writes a planned event as a log entry.
func (g *generator) plannedEntry(ev *genEvent) entry {
	w := jsonw{b: make([]byte, 0, 1024)}
	e := entry{id: ev.idString(), eventType: ev.eventType, createdAt: ev.now, raw: g.appendEvent(&w, ev)}
	if !ev.enterprise {
		e.changes, e.sync = ev.inChanges(), ev.inSync()
	}
	return e
}

// enterpriseZone is the zone of the enterprise's office hours and of created_at.
var enterpriseZone = time.FixedZone("PST", -8*3600)

// hourShare[h] is the share of a weekday's activity that falls in local hour h.
var hourShare = func() (share [24]float64) {
	weights := [24]float64{0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4, 7, 8, 8, 6, 7, 8, 8, 7, 5, 3, 2, 1.5, 1, 0.6, 0.3}
	total := 0.0
	for _, v := range weights {
		total += v
	}
	for h, v := range weights {
		share[h] = v / total
	}
	return share
}()

// weekendShare is a weekend day's activity as a share of a weekday's.
const weekendShare = 0.15

func workday(d time.Weekday) bool { return d != time.Saturday && d != time.Sunday }

// Runs of benign downloads and deletions: a run goes on with these chances (percent)
// up to its maximum length; the mean lengths turn daily rates into rates of runs.
const (
	downloadRunOn, downloadRunMax = 55, 5
	deleteRunOn, deleteRunMax     = 40, 4
)

var (
	downloadRunMean = runMean(downloadRunOn, downloadRunMax)
	deleteRunMean   = runMean(deleteRunOn, deleteRunMax)
)

func runMean(on, most int) float64 {
	mean, p := 0.0, 1.0
	for range most {
		mean += p
		p *= float64(on) / 100
	}
	return mean
}

// planned is an event EmitTraffic will append, with its user-stream counterpart.
type planned struct {
	ev   genEvent
	user *genEvent // nil without Traffic.UserStream or counterpart
}

// planner plans the events of one EmitTraffic call. Every choice comes from r.
type planner struct {
	g          *generator
	d          *directory
	r          *rand.Rand
	userStream bool
	from, to   time.Time // benign traffic's window
	events     []planned
	benign     map[string]int
}

// benignTraffic plans the benign traffic of the window, an hour at a time.
func (p *planner) benignTraffic() {
	for h := p.from.Truncate(time.Hour); h.Before(p.to); h = h.Add(time.Hour) {
		local := h.In(enterpriseZone)
		share := hourShare[local.Hour()]
		if !workday(local.Weekday()) {
			share *= weekendShare
		}
		for i := range p.d.employees {
			p.employeeHour(&p.d.employees[i], h, share)
		}
		p.enterpriseHour(h, share)
	}
}

// employeeHour plans what employee e does in the hour from h.
func (p *planner) employeeHour(e *employee, h time.Time, share float64) {
	r := p.r
	for range poisson(r, e.logins*share) {
		p.login(e, p.within(h))
	}
	for range poisson(r, e.previews*share) {
		p.itemEvent(e, "PREVIEW", "ITEM_PREVIEW", p.within(h))
	}
	p.itemRuns(e, h, e.downloads*share, itemRun{"DOWNLOAD", "ITEM_DOWNLOAD", downloadRunOn, downloadRunMax, downloadRunMean, 5, 40})
	for range poisson(r, e.uploads*share) {
		p.itemEvent(e, "UPLOAD", "ITEM_UPLOAD", p.within(h))
	}
	for range poisson(r, e.edits*share) {
		p.itemEvent(e, "EDIT", "ITEM_UPLOAD", p.within(h))
	}
	p.itemRuns(e, h, e.deletes*share, itemRun{"DELETE", "ITEM_TRASH", deleteRunOn, deleteRunMax, deleteRunMean, 3, 20})
	for range poisson(r, e.shares*share) {
		at := p.within(h)
		p.share(e, "SHARE", at, p.address(e, at), benignAccess(r), nil)
	}
	for range poisson(r, e.shares*0.3*share) {
		at := p.within(h)
		p.share(e, "ITEM_SHARED_UPDATE", at, p.address(e, at), benignAccess(r), nil)
	}
	for range poisson(r, e.invites*share) {
		p.benignInvite(e, p.within(h))
	}
	for _, t := range [...]struct {
		typ, twin string
		perDay    float64
	}{{"COPY", "ITEM_COPY", 0.5}, {"MOVE", "ITEM_MOVE", 0.6}, {"RENAME", "ITEM_RENAME", 0.4}} {
		for range poisson(r, t.perDay*share) {
			p.itemEvent(e, t.typ, t.twin, p.within(h))
		}
	}
	for range poisson(r, 0.03*share) {
		at := p.within(h)
		ev := p.event("ADD_LOGIN_ACTIVITY_DEVICE", at, e.person, e.addressAt(r, at))
		randomBytes(r, ev.device[:])
		p.add(&ev, "", nil)
	}
}

// enterpriseHour plans what happens in the hour from h beyond the employees' own
// work: the admin's, Shield's, the service account's and anonymous visitors'.
func (p *planner) enterpriseHour(h time.Time, share float64) {
	r, d := p.r, p.d
	admin := &d.employees[0]
	for range poisson(r, 1.2*share) {
		p.benignShieldAlert(p.within(h))
	}
	for range poisson(r, 1.0*share) {
		at := p.within(h)
		ev := p.event("GROUP_ADD_USER", at, admin.person, admin.addressAt(r, at))
		gr := d.groups[r.IntN(len(d.groups))]
		ev.group = group{gr.ID, gr.Name}
		ev.other = d.employees[r.IntN(len(d.employees))].person
		p.add(&ev, "", nil)
	}
	for range poisson(r, 0.2*share) {
		at := p.within(h)
		ev := p.event("CHANGE_ADMIN_ROLE", at, admin.person, admin.addressAt(r, at))
		ev.other = d.employees[2+r.IntN(len(d.employees)-2)].person
		ev.adminRole = "user" // a temporary co-admin role ends
		p.add(&ev, "", nil)
	}
	for range poisson(r, 0.05*share) {
		at := p.within(h)
		ev := p.event("ENTERPRISE_APP_AUTHORIZATION_UPDATE", at, admin.person, admin.addressAt(r, at))
		p.add(&ev, "", nil)
	}
	for range poisson(r, 1) { // the service account's nightly and daily jobs alike
		at := p.within(h)
		ev := p.event("UPLOAD", at, d.service, "198.51.100.253")
		p.item(&ev, r.IntN(len(d.folders)), r.IntN(filesPerFolder))
		p.add(&ev, "", nil)
	}
	for range poisson(r, 6*share) { // shared links opened by people not logged in
		at := p.within(h)
		t := "PREVIEW"
		if r.IntN(3) == 0 {
			t = "DOWNLOAD"
		}
		ev := p.event(t, at, p.g.anonymous, "192.0.2."+strconv.Itoa(1+r.IntN(254)))
		p.item(&ev, r.IntN(len(d.folders)), r.IntN(40)) // the few files with links
		ev.viaLink = true
		randomTokenBytes(r, ev.token[:12])
		p.add(&ev, "", nil)
	}
}

// itemRun is how an employee's benign downloads and deletions come: in runs of one to
// most events on one folder, each further one with probability on percent, gapMin to
// gapMin+gapSpread-1 seconds apart; mean is runMean(on, most).
type itemRun struct {
	t, twin           string
	on, most          int
	mean              float64
	gapMin, gapSpread int
}

// itemRuns plans the runs of an hour h in which rate events are expected.
func (p *planner) itemRuns(e *employee, h time.Time, rate float64, run itemRun) {
	r := p.r
	for range poisson(r, rate/run.mean) {
		at := p.within(h)
		fi := p.folderOf(e)
		for k := 0; k < run.most && (k == 0 || r.IntN(100) < run.on); k++ {
			at = at.Add(time.Duration(run.gapMin+r.IntN(run.gapSpread)) * time.Second)
			p.benignItem(e, run.t, run.twin, at, fi)
		}
	}
}

// login plans a login of e at at, after one to three failures now and then.
func (p *planner) login(e *employee, at time.Time) {
	r := p.r
	ip := e.addressAt(r, at)
	fails := 0
	if r.IntN(16) == 0 {
		fails = 1
		for fails < 3 && r.IntN(4) == 0 {
			fails++
		}
	}
	t := at
	for range fails {
		t = t.Add(-time.Duration(15+r.IntN(45)) * time.Second)
		failed := p.failedLogin(e.person, t, ip)
		p.add(&failed, "", nil)
	}
	ev := p.event("LOGIN", at, e.person, ip)
	p.add(&ev, "", nil)
}

// failedLogin returns a failed login of victim from ip: created by the user whose
// login failed, who is also the source.
func (p *planner) failedLogin(victim person, at time.Time, ip string) genEvent {
	ev := p.event("FAILED_LOGIN", at, victim, ip)
	ev.other = victim
	return ev
}

// itemEvent plans an item event of e on a file of one of e's folders.
func (p *planner) itemEvent(e *employee, t, twin string, at time.Time) {
	p.benignItem(e, t, twin, at, p.folderOf(e))
}

func (p *planner) benignItem(e *employee, t, twin string, at time.Time, fi int) {
	ev := p.event(t, at, e.person, p.address(e, at))
	p.item(&ev, fi, p.r.IntN(filesPerFolder))
	p.add(&ev, twin, nil)
}

// share plans a new shared link (SHARE) or a change of one (ITEM_SHARED_UPDATE) by e
// with the given access.
func (p *planner) share(e *employee, t string, at time.Time, ip string, access int, rep *ScenarioReport) {
	ev := p.event(t, at, e.person, ip)
	p.item(&ev, p.folderOf(e), p.r.IntN(filesPerFolder))
	ev.access = access
	randomTokenBytes(p.r, ev.token[:12])
	twin := "ITEM_SHARED_CREATE"
	if t == "ITEM_SHARED_UPDATE" {
		twin = t
	}
	p.add(&ev, twin, rep)
}

// benignAccess draws the access level of a benign shared link.
func benignAccess(r *rand.Rand) int {
	switch n := r.IntN(100); {
	case n < 20:
		return 0 // open
	case n < 75:
		return 1 // company
	}
	return 2 // collaborators
}

// benignInvite plans an invitation by e to a colleague or, now and then, an outsider.
func (p *planner) benignInvite(e *employee, at time.Time) {
	r, d := p.r, p.d
	var invitee person
	switch n := r.IntN(100); {
	case n < 86:
		invitee = d.employees[r.IntN(len(d.employees))].person
	case n < 99:
		invitee = d.partners[r.IntN(len(d.partners))]
	default:
		invitee = d.personal[r.IntN(len(d.personal))]
	}
	role := 0
	if n := r.IntN(10); n >= 5 {
		role = 1 + n/9 // Viewer, or Co-owner one time in ten
	}
	c := collab{actor: e.person, invitee: invitee, at: at, ip: p.address(e, at), folder: p.folderOf(e), role: role}
	p.invite(&c, nil)
	if !p.d.externalLogin(invitee.login) && r.IntN(5) != 0 {
		c.actor, c.at = invitee, at.Add(time.Duration(2+r.IntN(120))*time.Minute)
		c.ip = p.addressOf(invitee, c.at)
		ev := p.collaboration("COLLABORATION_ACCEPT", &c)
		p.add(&ev, "", nil)
	}
}

// collab is a collaboration on a catalog folder.
type collab struct {
	actor, invitee person
	at             time.Time
	ip             string
	folder, role   int // catalog folder, collabRoles index
}

// invite plans a COLLABORATION_INVITE of c.invitee by c.actor.
func (p *planner) invite(c *collab, rep *ScenarioReport) {
	ev := p.collaboration("COLLABORATION_INVITE", c)
	twin := "COLLAB_ADD_COLLABORATOR"
	if p.d.externalLogin(c.invitee.login) {
		twin = "COLLAB_INVITE_COLLABORATOR"
	}
	p.add(&ev, twin, rep)
}

func (p *planner) collaboration(t string, c *collab) genEvent {
	ev := p.event(t, c.at, c.actor, c.ip)
	p.item(&ev, c.folder, 0)
	ev.folderSide = true
	ev.other = c.invitee
	ev.collabID = 30000000 + p.r.IntN(9000000)
	ev.role = c.role
	return ev
}

// benignShieldAlert plans a low-risk Shield alert about an employee.
func (p *planner) benignShieldAlert(at time.Time) {
	r, d := p.r, p.d
	e := &d.employees[r.IntN(len(d.employees))]
	ip := e.home
	if r.IntN(2) == 0 { // travelling
		ip = [...]string{"175.16.199.14", "89.160.20.115", "81.2.69.160"}[r.IntN(3)]
	}
	ev := p.event("SHIELD_ALERT", at, p.g.anonymous, ip)
	p.item(&ev, p.folderOf(e), r.IntN(filesPerFolder))
	ev.riskScore = 10 + r.IntN(40)
	ev.alertID = 1000 + r.IntN(90000)
	ev.shield = shieldHit{category: shieldLocations, user: e.person, ip: ip}
	switch n := r.IntN(10); {
	case n >= 8:
		ev.shield.category = shieldDownload
		ev.shield.baseline = 10 + r.IntN(40)
		ev.shield.files = ev.shield.baseline + 10 + r.IntN(40)
	case n >= 4:
		ev.shield.category = shieldSessions
	}
	p.add(&ev, "", nil)
}

// event starts an enterprise event of type t by actor from ip, created at at.
func (p *planner) event(t string, at time.Time, actor person, ip string) genEvent {
	ev := genEvent{enterprise: true, eventType: t, odd: oddNone, actor: actor, ip: ip}
	ev.now = at.In(enterpriseZone).Truncate(time.Second)
	randomBytes(p.r, ev.id[:16])
	ev.id[6] = ev.id[6]&0x0f | 0x40 // version 4
	ev.id[8] = ev.id[8]&0x3f | 0x80 // RFC 4122 variant
	p.g.drawSession(&ev, p.r)
	return ev
}

// item points ev at file n of catalog folder fi, as seen through one of the apps.
func (p *planner) item(ev *genEvent, fi, n int) {
	ev.file = p.d.file(fi, n)
	ev.folder = p.d.folders[fi].folder
	ev.owner = p.d.employees[ev.folder.owner].person
	ev.itemKind = itemFile
	ev.versionID = 800000000 + p.r.IntN(99999999)
	ev.service = p.r.IntN(len(services))
}

// add plans ev, with its user-stream counterpart of type twin if Traffic.UserStream
// asks for it, for rep; or as benign traffic when rep is nil, if it falls in the
// window.
func (p *planner) add(ev *genEvent, twin string, rep *ScenarioReport) {
	if rep == nil {
		if ev.now.Before(p.from) || !ev.now.Before(p.to) {
			return
		}
		p.benign[ev.eventType]++
	}
	pl := planned{ev: *ev}
	if p.userStream && twin != "" {
		pl.user = p.twin(ev, twin)
	}
	if rep != nil {
		rep.add(&pl)
	}
	p.events = append(p.events, pl)
}

// twin returns the user-stream event of type t that ev shows in its actor's stream.
func (p *planner) twin(ev *genEvent, t string) *genEvent {
	r := p.r
	u := *ev
	u.enterprise, u.eventType = false, t
	randomBytes(r, u.id[:20])
	u.recordedLag = r.IntN(4)
	u.detailsNull = r.IntN(2) == 0
	u.createdHours = 1 + r.IntN(90*24)
	randomBytes(r, u.sha1[:])
	u.fileVersion = 900000000 + r.IntN(99999999)
	u.folderSize = 10485760 + r.IntN(1<<30)
	randomTokenBytes(r, u.token[:32])
	return &u
}

// folderOf draws a folder employee e works in: mostly one of theirs.
func (p *planner) folderOf(e *employee) int {
	if p.r.IntN(5) == 0 {
		return p.r.IntN(len(p.d.folders))
	}
	return e.folders[p.r.IntN(len(e.folders))]
}

// address is where e acts from at at; now and then Box knows no address.
func (p *planner) address(e *employee, at time.Time) string {
	if p.r.IntN(50) == 0 {
		return "Unknown IP"
	}
	return e.addressAt(p.r, at)
}

// addressOf is where any user acts from: an employee's usual address, or an
// outsider's own.
func (p *planner) addressOf(u person, at time.Time) string {
	if i, ok := p.d.find(u.id); ok {
		return p.d.employees[i].addressAt(p.r, at)
	}
	return "192.0.2." + strconv.Itoa(1+p.r.IntN(254))
}

// within draws an instant in the hour from h.
func (p *planner) within(h time.Time) time.Time {
	return h.Add(time.Duration(p.r.Int64N(int64(time.Hour))))
}

// poisson draws a Poisson-distributed count of mean lambda (small, per hour).
func poisson(r *rand.Rand, lambda float64) int {
	limit, n, prod := math.Exp(-lambda), 0, r.Float64()
	for prod > limit {
		n++
		prod *= r.Float64()
	}
	return n
}

// externalLogin reports whether login is outside the enterprise's domains.
func (d *directory) externalLogin(login string) bool {
	return Directory{Domains: d.domains}.External(login)
}
