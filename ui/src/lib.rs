//! The web console's views. Pages are rendered from what the command layer answered (the
//! same CloudStack objects the API returns), so the console can show nothing the API
//! cannot; handlers live with the HTTP layer in the management server, which calls
//! `commands::dispatch` and hands the answer to these views. No I/O and no SQL here.

pub mod capacity;
pub mod chart;
pub mod format;
pub mod launch;
pub mod wizard;

use askama::Template;

pub use capacity::Gauge;
pub use chart::Chart;

/// The console's stylesheet, served at `/console/static/console.css`.
pub const CSS: &str = include_str!("../static/console.css");

/// noVNC 1.7.0 bundled into one ES module (`ui/vendor/novnc/build.sh`), served at
/// `/console/static/novnc.js`; MPL-2.0, its licence at `/console/static/novnc.LICENSE.txt`.
pub const NOVNC_JS: &str = include_str!("../static/novnc.js");
pub const NOVNC_LICENSE: &str = include_str!("../static/novnc.LICENSE.txt");
/// The console page's own script: connects noVNC to the management server's WebSocket.
pub const VNC_JS: &str = include_str!("../static/vnc.js");
/// Every page's script (optional): the job tray and `data-live` tables kept current.
pub const LIVE_JS: &str = include_str!("../static/live.js");

/// One row of a table: the id of the object it shows, its cells, and its buttons.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
    pub actions: Vec<Action>,
}

/// A value on a page: plain text, a link, a state badge, or a bar with its text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    /// Badge class (`ok`, `warn`, `bad`, `info`, `idle`): the text is shown as a badge.
    pub badge: Option<&'static str>,
    /// A bar of this percentage (0–100), with the text beside it.
    pub bar: Option<u32>,
    /// The bar's colour class.
    pub level: &'static str,
    /// The cell's CSS class: `num` (right-aligned figures), `mono`, or "".
    pub class: &'static str,
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            ..Default::default()
        }
    }
    pub fn link(t: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            href: Some(href.into()),
            ..Default::default()
        }
    }
    /// A state shown as a badge coloured by what it means.
    pub fn state(t: impl Into<String>) -> Cell {
        let text = t.into();
        Cell {
            badge: Some(format::state_class(&text)),
            text,
            ..Default::default()
        }
    }
    pub fn num(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            class: "num",
            ..Default::default()
        }
    }
    /// A date or time (kept on one line).
    pub fn when(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            class: "when",
            ..Default::default()
        }
    }
    pub fn mono(t: impl Into<String>) -> Cell {
        Cell {
            text: t.into(),
            class: "mono",
            ..Default::default()
        }
    }
    /// A bar at `percent` with `text` beside it; amber past 75%, red past 90% when
    /// `warn_high` (capacity), plain otherwise (progress).
    pub fn bar(percent: f64, text: impl Into<String>, warn_high: bool) -> Cell {
        let p = percent.clamp(0.0, 100.0);
        Cell {
            text: text.into(),
            bar: Some(p.round() as u32),
            level: match (warn_high, p) {
                (false, _) => "",
                (true, p) if p >= 90.0 => "bad",
                (true, p) if p >= 75.0 => "warn",
                _ => "ok",
            },
            ..Default::default()
        }
    }
}

/// A button that POSTs a small form (with the CSRF token) to `url`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Action {
    /// A stable name for tests and scripts (`data-action`).
    pub name: String,
    pub label: String,
    pub url: String,
    pub fields: Vec<(String, String)>,
    pub danger: bool,
    /// A checkbox the admin must tick first (works without JavaScript).
    pub confirm: Option<String>,
    /// A choice sent with the button (`select`: the ISO to attach).
    pub select: Option<Field>,
    /// Inputs typed in beside the button (a tag's key and value, a new limit).
    pub inputs: Vec<Field>,
}

impl Action {
    pub fn new(name: &str, label: &str, url: impl Into<String>) -> Action {
        Action {
            name: name.into(),
            label: label.into(),
            url: url.into(),
            ..Default::default()
        }
    }
    pub fn field(mut self, k: &str, v: impl Into<String>) -> Action {
        self.fields.push((k.into(), v.into()));
        self
    }
    /// A drop-down sent with the button; without options the action is not offered.
    pub fn select(mut self, name: &str, label: &str, options: Vec<(String, String)>) -> Action {
        self.select = Some(Field::select(name, label, "", options));
        self
    }
    /// An input typed in beside the button (`kind`: `text` or `number`), required
    /// unless `placeholder` says what an empty one means.
    pub fn input(
        mut self,
        name: &str,
        label: &str,
        kind: &'static str,
        value: impl Into<String>,
        placeholder: &str,
    ) -> Action {
        let mut f = Field::text(name, label, value, true).kind(kind);
        f.placeholder = placeholder.into();
        self.inputs.push(f);
        self
    }
    /// An input that may be left empty (`placeholder` says what empty means: "Name
    /// (optional)").
    pub fn optional_input(
        mut self,
        name: &str,
        label: &str,
        kind: &'static str,
        placeholder: &str,
    ) -> Action {
        let mut f = Field::text(name, label, "", false).kind(kind);
        f.placeholder = placeholder.into();
        self.inputs.push(f);
        self
    }
    /// A drop-down among the inputs, in their order (the action's own `select` comes
    /// after them); its first option is the one chosen at first.
    pub fn choice(mut self, name: &str, label: &str, options: Vec<(String, String)>) -> Action {
        self.inputs.push(Field::select(name, label, "", options));
        self
    }
    /// A labelled checkbox beside the button (sent as `name=true` when ticked).
    pub fn checkbox(mut self, name: &str, label: &str, checked: bool) -> Action {
        self.inputs.push(Field::checkbox(name, label, checked));
        self
    }
    pub fn danger(mut self, confirm: &str) -> Action {
        self.danger = true;
        self.confirm = Some(confirm.into());
        self
    }
}

/// A link shown as a button.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub label: String,
    pub href: String,
    pub primary: bool,
}

impl Link {
    pub fn new(label: &str, href: impl Into<String>) -> Link {
        Link {
            label: label.into(),
            href: href.into(),
            primary: false,
        }
    }
    pub fn primary(label: &str, href: impl Into<String>) -> Link {
        Link {
            primary: true,
            ..Link::new(label, href)
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The table element's id (`list` for a page's main list).
    pub id: String,
    /// Group headings over the columns, with their spans (the metrics table).
    pub groups: Vec<(String, usize)>,
    pub headings: Vec<String>,
    /// Indexes of numeric columns (right-aligned headings).
    pub numeric: Vec<usize>,
    pub rows: Vec<Row>,
    pub empty: String,
    /// Per heading, the address that sorts by that column (None: not sortable).
    pub sort_links: Vec<Option<String>>,
    /// The column sorted by and its direction (`ascending` or `descending`).
    pub sorted: Option<(usize, &'static str)>,
    /// Drop-downs above the table that filter it (a GET form to `filter_action`).
    pub filters: Vec<Field>,
    pub filter_action: String,
    /// Hidden fields the filter form carries (the sort, so filtering keeps it).
    pub filter_keep: Vec<(String, String)>,
    /// Whether the page's script keeps the rows current (`data-live`): their state
    /// badges, rows added elsewhere and rows gone.
    pub live: bool,
    /// Bulk actions on the rows ticked in the Select column (value → label), posted to
    /// `bulk_action` with a confirmation saying `bulk_confirm`; empty: no Select column.
    pub bulk: Vec<(String, String)>,
    pub bulk_action: String,
    pub bulk_confirm: String,
    /// Hidden fields the bulk form carries (where to come back to).
    pub bulk_fields: Vec<(String, String)>,
}

impl Table {
    pub fn new(id: &str, headings: &[&str], rows: Vec<Row>, empty: &str) -> Table {
        Table {
            id: id.into(),
            headings: headings.iter().map(|h| h.to_string()).collect(),
            rows,
            empty: empty.into(),
            ..Default::default()
        }
    }
    /// The sort link of heading `i`, if it has one.
    pub fn sort_link(&self, i: &usize) -> Option<&str> {
        self.sort_links.get(*i).and_then(|l| l.as_deref())
    }
    /// `aria-sort` of heading `i`: its direction when the table is sorted by it.
    pub fn sort_of(&self, i: &usize) -> &'static str {
        match self.sorted {
            Some((c, dir)) if c == *i => dir,
            _ => "",
        }
    }
    /// A row's name, for the label of its Select box.
    pub fn row_name(&self, r: &Row) -> String {
        r.cells.first().map(|c| c.text.clone()).unwrap_or_default()
    }
    pub fn has_actions(&self) -> bool {
        self.rows.iter().any(|r| !r.actions.is_empty())
    }
}

/// A message carried to the next page (after a POST and its redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// The signed-in frame every console page shares.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub username: String,
    pub account: String,
    /// Sent back with every form as the CSRF token (it is the API's `sessionkey`).
    pub sessionkey: String,
    /// The navigation entry of this page.
    pub active: &'static str,
    /// Root administrators see the infrastructure and administration pages.
    pub is_admin: bool,
    pub flash: Option<Flash>,
    /// Whether the command layer serves instances (listVirtualMachines).
    pub has_instances: bool,
    /// The caller's recent jobs, shown in the header on every page.
    pub tray: Tray,
    /// Root and domain administrators see the domains (and the accounts in them).
    pub manages_domains: bool,
    /// The project switcher: the projects the caller may view (id, name), and the one
    /// chosen (its id and name; empty: the default view, the caller's own resources).
    pub projects: Vec<(String, String)>,
    pub project_id: String,
    pub project_name: String,
}

impl Frame {
    /// Whether the chosen project is among the switcher's (else it is added to them).
    pub fn project_listed(&self) -> bool {
        self.projects.iter().any(|(id, _)| *id == self.project_id)
    }
}

/// The job tray: how the signed-in user's own jobs of the last day stand (of the newest
/// [`Tray::WINDOW`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tray {
    pub pending: usize,
    pub failed: usize,
    pub succeeded: usize,
}

impl Tray {
    pub const WINDOW: usize = 20;

    /// What the header shows: "Jobs" alone when there are none.
    pub fn label(&self) -> String {
        let mut parts = vec![];
        if self.pending > 0 {
            parts.push(format!("{} running", self.pending));
        }
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.succeeded > 0 {
            parts.push(format!("{} done", self.succeeded));
        }
        if parts.is_empty() {
            "Jobs".into()
        } else {
            format!("Jobs: {}", parts.join(", "))
        }
    }

    /// The tray's CSS state: busy while one runs, bad when one failed.
    pub fn class(&self) -> &'static str {
        if self.pending > 0 {
            "busy"
        } else if self.failed > 0 {
            "bad"
        } else {
            ""
        }
    }

    /// The tray element alone (what `/console/jobs/tray` answers for the page's script).
    pub fn html(&self) -> String {
        format!(
            "<a class=\"tray {}\" id=\"job-tray\" href=\"/console/jobs\" title=\"Your jobs of the last day\">{}</a>",
            self.class(),
            chart::escape(&self.label())
        )
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub username: String,
    pub domain: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub frame: Frame,
    /// The navigation group shown in the top bar.
    pub section: &'static str,
    pub title: String,
    pub table: Table,
    /// The API's total (`count`), which may exceed the rows shown.
    pub total: i64,
    pub toolbar: Vec<Link>,
    /// The search box's value; None hides the box.
    pub search: Option<String>,
    pub note: Option<String>,
    pub pager: Pager,
    pub refresh: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub table: Table,
    pub links: Vec<Link>,
    pub note: Option<String>,
    /// Small forms under the heading (add a tag, add a member, recalculate).
    pub forms: Vec<Action>,
}

/// A box above a page's details saying what happened and what to do next (a failed
/// instance: its cause, links to where it happened, the next steps).
#[derive(Debug, Clone, Default)]
pub struct Banner {
    /// `bad` (red) or `info` (blue).
    pub class: &'static str,
    pub title: String,
    pub text: String,
    pub links: Vec<Link>,
    /// What the reader can do now, one line each.
    pub next: Vec<String>,
}

#[derive(Template)]
#[template(path = "detail.html")]
pub struct DetailPage {
    pub frame: Frame,
    pub banner: Option<Banner>,
    pub title: String,
    /// Badges beside the title (states).
    pub status: Vec<Cell>,
    pub back: Link,
    pub toolbar: Vec<Link>,
    pub actions: Vec<Action>,
    pub fields: Vec<(String, Cell)>,
    pub charts: Vec<Chart>,
    pub sections: Vec<Section>,
    pub refresh: Option<u32>,
}

/// An input of a form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    /// `text`, `password`, `url`, `select`, `radio`, `checkbox` or `textarea`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub required: bool,
    pub placeholder: String,
    pub help: String,
    /// For checkboxes.
    pub checked: bool,
}

impl Field {
    pub fn text(name: &str, label: &str, value: impl Into<String>, required: bool) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind: "text",
            value: value.into(),
            required,
            ..Default::default()
        }
    }
    pub fn kind(mut self, kind: &'static str) -> Field {
        self.kind = kind;
        self
    }
    pub fn help(mut self, help: &str) -> Field {
        self.help = help.into();
        self
    }
    pub fn placeholder(mut self, p: &str) -> Field {
        self.placeholder = p.into();
        self
    }
    pub fn select(
        name: &str,
        label: &str,
        value: impl Into<String>,
        options: Vec<(String, String)>,
    ) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind: "select",
            value: value.into(),
            options,
            required: true,
            ..Default::default()
        }
    }
    pub fn checkbox(name: &str, label: &str, checked: bool) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind: "checkbox",
            checked,
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub frame: Frame,
    pub section: &'static str,
    pub title: String,
    pub intro: Option<String>,
    pub action: String,
    pub fields: Vec<Field>,
    pub error: Option<String>,
    pub submit: String,
    pub cancel: String,
    pub refresh: Option<u32>,
}

/// A dashboard tile: a count and its breakdown by state.
#[derive(Debug, Clone, Default)]
pub struct Tile {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    pub total: i64,
    pub states: Vec<(String, i64, &'static str)>,
    pub empty: &'static str,
}

impl Tile {
    /// Counts objects by their state (states in order of first appearance).
    pub fn by_state(
        key: &'static str,
        label: &'static str,
        href: &'static str,
        total: i64,
        item_states: impl IntoIterator<Item = String>,
    ) -> Tile {
        let mut states: Vec<(String, i64, &'static str)> = Vec::new();
        for s in item_states {
            match states.iter_mut().find(|(x, _, _)| *x == s) {
                Some(e) => e.1 += 1,
                None => {
                    let class = format::state_class(&s);
                    states.push((s, 1, class))
                }
            }
        }
        Tile {
            key,
            label,
            href,
            total,
            states,
            empty: "none yet",
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub frame: Frame,
    /// No zone yet: the page invites the admin to the Add Zone wizard.
    pub first_run: bool,
    pub tiles: Vec<Tile>,
    pub gauges: Vec<Gauge>,
    pub alerts: Table,
    pub events: Table,
    pub refresh: Option<u32>,
}

/// A row of the global settings page.
#[derive(Debug, Clone, Default)]
pub struct SettingRow {
    pub name: String,
    pub category: String,
    pub value: String,
    pub default: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub frame: Frame,
    /// "Global settings", or the settings of one zone, cluster or account.
    pub title: String,
    /// Where the title's scope lives (its page), for the crumbs; None at global scope.
    pub scope_link: Option<Link>,
    /// Hidden fields every form carries: the scope (`zoneid`, `clusterid` or `accountid`).
    pub scope: Vec<(String, String)>,
    pub rows: Vec<SettingRow>,
    pub total: i64,
    pub keyword: String,
    pub category: String,
    pub categories: Vec<String>,
    /// This page's own address, where the forms come back to.
    pub back: String,
    pub pager: Pager,
    pub refresh: Option<u32>,
}

/// New API keys, shown once.
#[derive(Template)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub frame: Frame,
    pub username: String,
    pub apikey: String,
    pub secretkey: String,
    pub back: String,
    pub refresh: Option<u32>,
}

/// A new SSH key pair's private key, shown once (createSSHKeyPair keeps only the public key).
#[derive(Template)]
#[template(path = "sshkey.html")]
pub struct SshKeyPage {
    pub frame: Frame,
    pub name: String,
    pub fingerprint: String,
    pub privatekey: String,
    pub back: String,
    pub refresh: Option<u32>,
}

/// An instance's generated password (deploy from a password-enabled template, or
/// resetPasswordForVirtualMachine), shown once on the answer to the form that made it:
/// never put in a cookie, a session or a later page.
#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub frame: Frame,
    pub title: String,
    pub name: String,
    pub password: String,
    pub note: String,
    pub back: String,
    pub refresh: Option<u32>,
}

/// An async job's progress, refreshed until it ends.
#[derive(Template)]
#[template(path = "job.html")]
pub struct JobPage {
    pub frame: Frame,
    pub title: String,
    pub status: String,
    pub class: &'static str,
    pub text: String,
    pub next: String,
    pub refresh: Option<u32>,
}

/// A tab of the wizard's step list.
#[derive(Debug, Clone)]
pub struct StepTab {
    pub title: &'static str,
    /// `done`, `current` or "".
    pub state: &'static str,
}

/// What the review step lists for one step.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub key: &'static str,
    pub title: &'static str,
    pub done: bool,
    pub items: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "wizard.html")]
pub struct WizardPage {
    pub frame: Frame,
    pub network_type: String,
    pub tabs: Vec<StepTab>,
    pub step: &'static str,
    pub step_title: &'static str,
    pub intro: &'static str,
    pub fields: Vec<Field>,
    pub hidden: Vec<(String, String)>,
    pub review: Vec<ReviewRow>,
    pub error: Option<String>,
    pub can_back: bool,
    /// The main button: its `go` value and label.
    pub next_go: &'static str,
    pub next_label: &'static str,
    pub refresh: Option<u32>,
}

/// The wizard's form alone, for the build page after a failed step.
#[derive(Template)]
#[template(path = "wizard_fragment.html")]
pub struct WizardForm {
    pub frame: Frame,
    pub step: &'static str,
    pub step_title: &'static str,
    pub intro: &'static str,
    pub fields: Vec<Field>,
    pub hidden: Vec<(String, String)>,
    pub review: Vec<ReviewRow>,
    pub error: Option<String>,
    pub can_back: bool,
    pub next_go: &'static str,
    pub next_label: &'static str,
}

impl WizardPage {
    pub fn form(&self) -> WizardForm {
        WizardForm {
            frame: self.frame.clone(),
            step: self.step,
            step_title: self.step_title,
            intro: self.intro,
            fields: self.fields.clone(),
            hidden: self.hidden.clone(),
            review: self.review.clone(),
            error: self.error.clone(),
            can_back: self.can_back,
            next_go: self.next_go,
            next_label: self.next_label,
        }
    }
}

/// The Add Instance wizard's page (see `launch`).
#[derive(Template)]
#[template(path = "launch.html")]
pub struct LaunchPage {
    pub frame: Frame,
    pub tabs: Vec<StepTab>,
    pub step: &'static str,
    pub step_title: &'static str,
    pub intro: &'static str,
    pub choices: Option<launch::Choices>,
    pub fields: Vec<Field>,
    pub hidden: Vec<(String, String)>,
    /// The review: step key, title and what was chosen.
    pub review: Vec<(&'static str, &'static str, String)>,
    pub error: Option<String>,
    pub can_back: bool,
    pub next_go: &'static str,
    pub next_label: &'static str,
    pub refresh: Option<u32>,
}

/// A VM's console: noVNC, full window, connecting with the page's one-time token.
#[derive(Template)]
#[template(path = "vnc.html")]
pub struct VncPage {
    pub title: String,
    /// Where "Back" leads: the instance's page.
    pub back: String,
    /// The WebSocket's path (the token is taken from the page's own query).
    pub websocket: &'static str,
}

/// The "Now building your cloud" page; its progress is streamed where `<!--STREAM-->` is.
#[derive(Template)]
#[template(path = "build.html")]
pub struct BuildPage {
    pub frame: Frame,
    pub refresh: Option<u32>,
}

impl BuildPage {
    /// The page split around its progress list: what goes before the streamed steps,
    /// and what closes the page after them.
    pub fn split(&self) -> askama::Result<(String, String)> {
        let html = self.render()?;
        let (a, b) = html
            .split_once("<!--STREAM-->")
            .unwrap_or((html.as_str(), ""));
        Ok((a.to_string(), b.to_string()))
    }
}

/// Build page pieces, streamed as each step starts and ends.
pub mod build {
    use crate::chart::escape;

    pub fn started(step: &str, label: &str) -> String {
        format!(
            "<li data-step=\"{}\"><span class=\"mark\"></span>{}",
            escape(step),
            escape(label)
        )
    }
    pub fn finished(detail: &str) -> String {
        format!(
            "<span class=\"detail\">{}</span> <span class=\"badge ok\">done</span></li>\n",
            escape(detail)
        )
    }
    pub fn skipped(step: &str, label: &str) -> String {
        format!(
            "<li class=\"ok\" data-step=\"{}\"><span class=\"mark\"></span>{} <span class=\"detail\">(already done)</span></li>\n",
            escape(step),
            escape(label)
        )
    }
    /// The failed step's line, its error, and an invitation to fix the step below.
    pub fn failed(error: &str) -> String {
        format!(
            " <span class=\"badge bad\">failed</span></li>\n</ol>\n<p class=\"error\" role=\"alert\" id=\"build-error\">{}</p>\n<p class=\"muted\">Correct this step and launch again: what was built is kept.</p>\n",
            escape(error)
        )
    }
    pub fn succeeded(zone_id: &str, zone_name: &str) -> String {
        format!(
            "</ol>\n<p class=\"flash ok\" id=\"build-done\">Cloud setup successful: zone {} is built and enabled.</p>\n<p><a class=\"btn primary\" href=\"/console/zones/{}\">Go to the zone</a> <a class=\"btn\" href=\"/console/dashboard\">Dashboard</a></p>\n",
            escape(zone_name),
            escape(zone_id)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            username: "admin".into(),
            account: "admin".into(),
            sessionkey: "k".into(),
            active: "zones",
            is_admin: true,
            ..Default::default()
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = ListPage {
            frame: frame(),
            section: "Infrastructure",
            title: "Zones".into(),
            table: Table::new(
                "list",
                &["Name"],
                vec![Row {
                    id: "1".into(),
                    cells: vec![Cell::text("<script>x</script>")],
                    actions: vec![],
                }],
                "none",
            ),
            total: 1,
            toolbar: vec![],
            search: None,
            note: None,
            pager: Pager::default(),
            refresh: None,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>x"));
        assert!(
            html.contains("&lt;script&gt;x") || html.contains("&#60;script&#62;x"),
            "{html}"
        );
    }

    fn job_page(frame: Frame) -> JobPage {
        JobPage {
            frame,
            title: "Job".into(),
            status: "Running".into(),
            class: "info",
            text: String::new(),
            next: "/console/dashboard".into(),
            refresh: None,
        }
    }

    #[test]
    fn the_project_switcher_marks_the_chosen_project_and_escapes_names() {
        // No project to choose: no switcher.
        let html = job_page(frame()).render().unwrap();
        assert!(!html.contains("project-switch"));
        let mut f = frame();
        f.projects = vec![("p1".into(), "<web>".into()), ("p2".into(), "db".into())];
        let html = job_page(f.clone()).render().unwrap();
        assert!(html.contains("<option value=\"\" selected>Default view</option>"));
        assert!(!html.contains("in-project"));
        assert!(
            html.contains("&#60;web&#62;") || html.contains("&lt;web&gt;"),
            "{html}"
        );
        assert!(!html.contains("<web>"));
        f.project_id = "p2".into();
        f.project_name = "db".into();
        let html = job_page(f.clone()).render().unwrap();
        assert!(html.contains("class=\"project-switch in-project\""));
        assert!(
            html.contains("<option value=\"p2\" selected>db</option>"),
            "{html}"
        );
        assert!(html.contains("<option value=\"\">Default view</option>"));
        // A chosen project past the switcher's list is still shown, chosen.
        f.project_id = "p9".into();
        f.project_name = "far".into();
        let html = job_page(f).render().unwrap();
        assert!(
            html.contains("<option value=\"p9\" selected>far</option>"),
            "{html}"
        );
    }

    #[test]
    fn section_forms_render_their_inputs_with_the_csrf_token() {
        let page = DetailPage {
            frame: frame(),
            banner: None,
            title: "vm".into(),
            status: vec![],
            back: Link::new("Instances", "/console/instances"),
            toolbar: vec![],
            actions: vec![],
            fields: vec![],
            charts: vec![],
            sections: vec![Section {
                title: "Tags".into(),
                forms: vec![Action::new("add", "Add tag", "/console/tags")
                    .field("resourceid", "\"><x>")
                    .input("key", "Tag key", "text", "", "Key")
                    .input("max", "New limit", "number", "-1", "")],
                ..Default::default()
            }],
            refresh: None,
        };
        let html = page.render().unwrap();
        let form = html
            .split("<div class=\"section-forms\">")
            .nth(1)
            .expect("the section's forms")
            .split("</div>")
            .next()
            .unwrap();
        assert!(form.contains("name=\"sessionkey\" value=\"k\""), "{form}");
        assert!(form.contains("<input name=\"key\" type=\"text\" value=\"\" aria-label=\"Tag key\" placeholder=\"Key\" required>"), "{form}");
        assert!(form.contains("<input name=\"max\" type=\"number\" value=\"-1\" aria-label=\"New limit\" required>"), "{form}");
        assert!(
            !form.contains("\"><x>"),
            "hidden values are escaped: {form}"
        );
    }

    #[test]
    fn build_page_splits_around_its_stream() {
        let (head, tail) = BuildPage {
            frame: frame(),
            refresh: None,
        }
        .split()
        .unwrap();
        assert!(head.contains("<ol class=\"progress\""));
        assert!(!head.contains("</html>"));
        assert!(tail.contains("</html>"));
        assert!(build::started("zone", "Creating zone <z>").contains("&lt;z&gt;"));
    }
}
