//! The command catalog: every command Stratus implements, with its parameters, response
//! object and access level. It is the single source for parameter validation at dispatch,
//! for role checks, and for `listApis` (which CloudMonkey, Marvin and the UI use to
//! discover the API), so what is described is exactly what is served.

use crate::types::{self, ResponseField};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Uuid,
    Long,
    Integer,
    Short,
    Float,
    Boolean,
    Date,
    List,
    Map,
}

impl ParamType {
    /// The lower-case names `listApis` reports (CloudStack's `CommandType`).
    pub fn wire_name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Uuid => "uuid",
            ParamType::Long => "long",
            ParamType::Integer => "integer",
            ParamType::Short => "short",
            ParamType::Float => "float",
            ParamType::Boolean => "boolean",
            ParamType::Date => "date",
            ParamType::List => "list",
            ParamType::Map => "map",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamType,
    pub required: bool,
    pub description: &'static str,
    pub length: Option<u32>,
    /// A `List` whose items are UUIDs (validated as such).
    pub list_of_uuids: bool,
    /// Why Stratus refuses this parameter: CloudStack honours it, Stratus does not
    /// implement it yet. Given with a value (a boolean: `true`), the request is refused
    /// with 431 before any handler runs, naming the parameter and this reason, so a
    /// client never believes it got what it asked for. `listApis` still lists it (with
    /// the reason in its description), as CloudStack's API has it.
    pub refused: Option<&'static str>,
}

/// The longest value a string parameter takes unless the table below says otherwise:
/// CloudStack's `@Parameter` default, and its `varchar(255)` name columns.
pub const DEFAULT_MAX_LENGTH: u32 = 255;

/// Parameters longer than [`DEFAULT_MAX_LENGTH`], by name, with CloudStack's lengths
/// (`@Parameter(length = …)` and the columns behind them): free text, URLs, key material,
/// setting values, id lists. One table, so every command's same-named parameter has the
/// same limit; an explicit `len(…)` in the catalog still wins. Values above 255 are also
/// the only ones that may hold line breaks (see `Params::validate`).
pub const LONG_PARAMS: &[(&str, u32)] = &[
    ("displaytext", 4096),
    ("description", 4096),
    ("url", 2048),
    ("publickey", 5120),
    ("value", 4096),
    ("checksum", 1024),
    ("ids", 65535),
    ("details", 65535),
    ("tags", 4096),
    ("storagetags", 4096),
    ("hosttags", 4096),
    // Base64; the setting vm.userdata.max.length (at most 1 MiB) is the real bound.
    ("userdata", 1048576),
];

/// The limit for a parameter no catalog entry declares (map entries such as
/// `details[0].key`, transport parameters, ignored extras).
pub const UNDECLARED_MAX_LENGTH: u32 = 4096;

const fn param(
    name: &'static str,
    kind: ParamType,
    required: bool,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        description,
        length: None,
        list_of_uuids: false,
        refused: None,
    }
}
const fn req(name: &'static str, kind: ParamType, description: &'static str) -> ParamSpec {
    param(name, kind, true, description)
}
const fn opt(name: &'static str, kind: ParamType, description: &'static str) -> ParamSpec {
    param(name, kind, false, description)
}
const fn len(mut p: ParamSpec, max: u32) -> ParamSpec {
    p.length = Some(max);
    p
}
/// A parameter CloudStack honours that Stratus does not implement yet: refused, never
/// ignored (see [`ParamSpec::refused`]). `why` completes "… is not supported: ".
const fn unsupported(mut p: ParamSpec, why: &'static str) -> ParamSpec {
    p.refused = Some(why);
    p
}
const fn uuids(name: &'static str, description: &'static str) -> ParamSpec {
    let mut p = param(name, ParamType::List, false, description);
    p.list_of_uuids = true;
    p
}

// Why a parameter is refused ([`ParamSpec::refused`]); each completes "parameter X is
// not supported by Stratus: …".
const AFFINITY_GROUPS: &str = "affinity groups are not available yet";
const PROJECTS: &str = "projects are not available yet";
const OTHER_ACCOUNT: &str = "acting for another account is not available yet";
const DATA_VOLUMES: &str = "data volumes are not available yet";
const DOMAIN_OFFERINGS: &str = "offerings restricted to domains are not available yet";
const NO_DETAILS: &str = "custom details are not available yet";
const TAG_RULES: &str =
    "tag rules are not available (tags are plain lists: a resource fits when it carries every tag asked for)";

/// Who may call a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (login).
    Public,
    /// Any authenticated user; handlers scope results to the caller.
    User,
    /// Root administrators only.
    Admin,
    /// Root administrators, and domain administrators inside their own domain's subtree
    /// (handlers check the subtree).
    DomainAdmin,
}

/// How the answer is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `{"count":N,"<object>":[...]}` or `{}`.
    List,
    /// `{"<object>":{...}}`.
    Object,
    /// `{"<object>":[{...}]}`: creates that answer a list (addCluster, registerIso).
    ObjectList,
    /// `{"success":true}`.
    Success,
    /// `{"jobid":...}`; the job's result is `{"<object>":{...}}` or success.
    Async,
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub since: Option<&'static str>,
    pub access: Access,
    pub kind: ResponseKind,
    /// The item key (`zone`, `pod`, `userkeys`, ...).
    pub object: &'static str,
    pub params: &'static [ParamSpec],
    pub response: &'static [ResponseField],
    /// For async commands: the job's `jobinstancetype`.
    pub instance_type: Option<&'static str>,
}

impl ParamSpec {
    /// The longest value accepted, in characters: the catalog's `len(…)`, else the
    /// [`LONG_PARAMS`] table, else [`DEFAULT_MAX_LENGTH`]. `listApis` reports the same.
    pub fn max_len(&self) -> u32 {
        if let Some(n) = self.length {
            return n;
        }
        LONG_PARAMS
            .iter()
            .find(|(name, _)| *name == self.name)
            .map(|(_, n)| *n)
            .unwrap_or(DEFAULT_MAX_LENGTH)
    }

    /// Whether the value may span lines (free text, key material); short values (names,
    /// ids, numbers) are one line.
    pub fn multiline(&self) -> bool {
        self.max_len() > DEFAULT_MAX_LENGTH
    }
}

impl CommandSpec {
    /// The declared parameter `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn is_async(&self) -> bool {
        self.kind == ResponseKind::Async
    }
    /// `listzonesresponse`: CloudStack's `getResponseNameByClass`.
    pub fn response_name(&self) -> std::string::String {
        format!("{}response", self.name.to_lowercase())
    }
}

use ParamType::*;

const PAGING: [ParamSpec; 3] = [
    opt("keyword", String, "List by keyword"),
    opt("page", Integer, ""),
    opt("pagesize", Integer, ""),
];

macro_rules! params {
    ($($p:expr),* $(,)?) => { &[$($p),*] };
}
macro_rules! list_params {
    ($($p:expr),* $(,)?) => { &[PAGING[0], PAGING[1], PAGING[2], $($p),*] };
}

const fn cmd(
    name: &'static str,
    description: &'static str,
    access: Access,
    kind: ResponseKind,
    object: &'static str,
    params: &'static [ParamSpec],
    response: &'static [ResponseField],
) -> CommandSpec {
    CommandSpec {
        name,
        description,
        since: None,
        access,
        kind,
        object,
        params,
        response,
        instance_type: None,
    }
}
const fn asynch(mut c: CommandSpec, instance_type: &'static str) -> CommandSpec {
    c.kind = ResponseKind::Async;
    c.instance_type = Some(instance_type);
    c
}
const fn since(mut c: CommandSpec, v: &'static str) -> CommandSpec {
    c.since = Some(v);
    c
}

use Access::{Admin, DomainAdmin, Public, User as AnyUser};
use ResponseKind::{List as L, Object as O, ObjectList as OL, Success as S};

const SUCCESS: &[ResponseField] = types::SuccessResponse::FIELDS;

const VM_LIST_PARAMS: &[ParamSpec] = list_params![
    opt("id", Uuid, "the ID of the virtual machine"),
    uuids("ids", "the IDs of the virtual machines, mutually exclusive with id"),
    opt("name", String, "name of the virtual machine (a substring match for the keyword parameter)"),
    opt("state", String, "state of the virtual machine. Possible values are: Running, Stopped, Present, Destroyed, Expunged. Present is used for the state equal not destroyed."),
    opt("zoneid", Uuid, "the availability zone ID"),
    opt("hostid", Uuid, "the host ID"),
    opt("isoid", Uuid, "list vms by iso"),
    opt("networkid", Uuid, "list by network id"),
    opt("serviceofferingid", Uuid, "list by the service offering"),
    opt("templateid", Uuid, "list vms by template"),
    opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
    opt("account", String, "list resources by account. Must be used with the domainId parameter."),
    opt("domainid", Uuid, "list only resources belonging to the domain specified"),
    opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
    opt("details", List, "comma separated list of vm details requested"),
    opt("userdata", Boolean, "Whether to return the VMs' userdata or not. By default, userdata will not be returned."),
    opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
    opt("tags", Map, "List resources by tags (key/value pairs)"),
    unsupported(uuids("affinitygroupid", "list vms by affinity group"), AFFINITY_GROUPS),
    opt("securitygroupid", Uuid, "the security group ID"),
];

/// authorizeSecurityGroupIngress and authorizeSecurityGroupEgress.
const SG_AUTHORIZE_PARAMS: &[ParamSpec] = params![
    opt("securitygroupid", Uuid, "The ID of the security group. Mutually exclusive with securityGroupName parameter"),
    opt("securitygroupname", String, "The name of the security group. Mutually exclusive with securityGroupId parameter"),
    opt("protocol", String, "TCP is default. UDP is the other supported protocol"),
    opt("startport", Integer, "start port for this ingress rule"),
    opt("endport", Integer, "end port for this ingress rule"),
    opt("icmptype", Integer, "type of the icmp message being sent"),
    opt("icmpcode", Integer, "error code for this icmp message"),
    opt("cidrlist", List, "the cidr list associated. Multiple entries must be separated by a single comma character (,)."),
    opt("usersecuritygrouplist", Map, "user to security group mapping"),
    opt("account", String, "an optional account for the security group. Must be used with domainId."),
    opt("domainid", Uuid, "an optional domainId for the security group. If the account parameter is used, domainId must also be used."),
    opt("projectid", Uuid, "an optional project of the security group"),
];

/// Whose key pair createSSHKeyPair and registerSSHKeyPair make.
const KEY_OWNER: [ParamSpec; 3] = [
    opt("account", String, "an optional account for the ssh key. Must be used with domainId."),
    opt("domainid", Uuid, "an optional domainId for the ssh key. If the account parameter is used, domainId must also be used."),
    opt("projectid", Uuid, "an optional project for the ssh key"),
];

const ZONE_UPDATE_PARAMS: &[ParamSpec] = params![
    req("id", Uuid, "the ID of the Zone"),
    opt("name", String, "the name of the Zone"),
    opt("dns1", String, "the first DNS for the Zone"),
    opt("dns2", String, "the second DNS for the Zone"),
    opt("ip6dns1", String, "the first DNS for IPv6 network in the Zone"),
    opt("ip6dns2", String, "the second DNS for IPv6 network in the Zone"),
    opt("internaldns1", String, "the first internal DNS for the Zone"),
    opt("internaldns2", String, "the second internal DNS for the Zone"),
    opt("guestcidraddress", String, "the guest CIDR address for the Zone"),
    opt("allocationstate", String, "Allocation state of this cluster for allocation of new resources"),
    opt("domain", String, "Network domain name for the networks in the zone; empty string will update domain with NULL value"),
    opt("description", String, "the description of the Zone"),
    opt("localstorageenabled", Boolean, "true if local storage offering enabled, false otherwise"),
    opt("dhcpprovider", String, "the dhcp Provider for the Zone"),
];

/// Every implemented command, in the order `listApis` reports them.
pub static COMMANDS: &[CommandSpec] = &[
    // --- sessions and discovery ---
    cmd("login", "Logs a user into the CloudStack. A successful login attempt will generate a JSESSIONID cookie value that can be passed in subsequent Query command calls until the \"logout\" command has been issued or the session has expired.", Public, O, "login",
        params![
            req("username", String, "Username"),
            req("password", String, "Hashed password (Default is MD5). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter See Docs section."),
            opt("domain", String, "Path of the domain that the user belongs to. Example: domain=/com/cloud/internal. If no domain is passed in, the ROOT (/) domain is assumed."),
            opt("domainId", Long, "The id of the domain that the user belongs to. If both domain and domainId are passed in, \"domainId\" parameter takes precedence."),
        ],
        types::LoginResponse::FIELDS),
    cmd("logout", "Logs out the user", AnyUser, O, "logout", params![], types::LogoutResponse::FIELDS),
    since(cmd("listApis", "lists all available apis on the server, provided by the Api Discovery plugin", AnyUser, L, "api",
        params![opt("name", String, "API name")], types::ApiDiscoveryResponse::FIELDS), "4.1.0"),
    cmd("listCapabilities", "Lists capabilities", AnyUser, O, "capability", params![], types::CapabilitiesResponse::FIELDS),
    cmd("listHypervisors", "List hypervisors", AnyUser, L, "hypervisor",
        params![opt("zoneid", Uuid, "the zone id for listing hypervisors.")], types::HypervisorResponse::FIELDS),
    since(cmd("listHypervisorCapabilities", "Lists all hypervisor capabilities.", Admin, L, "hypervisorCapabilities",
        list_params![
            opt("id", Uuid, "ID of the hypervisor capability"),
            opt("hypervisor", String, "the hypervisor for which to restrict the search"),
        ],
        types::HypervisorCapabilitiesResponse::FIELDS), "3.0.0"),
    // --- accounts, users, domains, roles ---
    cmd("listDomains", "Lists domains and provides detailed information for listed domains", AnyUser, L, "domain",
        list_params![
            opt("id", Uuid, "List domain by domain ID."),
            opt("level", Integer, "List domains by domain level."),
            opt("name", String, "List domain by domain name."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("details", List, "comma separated list of domain details requested, value can be a list of [ all, resource, min]"),
        ],
        types::DomainResponse::FIELDS),
    cmd("createDomain", "Creates a domain", DomainAdmin, O, "domain",
        params![
            req("name", String, "creates domain with this name"),
            opt("parentdomainid", Uuid, "assigns new domain a parent domain by domain ID of the parent.  If no parent domain is specified, the ROOT domain is assumed."),
            opt("networkdomain", String, "Network domain for networks in the domain"),
            unsupported(opt("domainid", String, "Domain UUID, required for adding domain from another Region"), "choosing the domain's UUID (regions) is not available"),
        ],
        types::DomainResponse::FIELDS),
    cmd("updateDomain", "Updates a domain with a new name", DomainAdmin, O, "domain",
        params![
            req("id", Uuid, "ID of domain to update"),
            opt("name", String, "updates domain with this name"),
            opt("networkdomain", String, "Network domain for the domain's networks; empty string will update domainName with NULL value"),
        ],
        types::DomainResponse::FIELDS),
    asynch(cmd("deleteDomain", "Deletes a specified domain", DomainAdmin, S, "success",
        params![
            req("id", Uuid, "ID of domain to delete"),
            opt("cleanup", Boolean, "true if all domain resources (child domains, accounts) have to be cleaned up, false otherwise"),
        ],
        SUCCESS), "Domain"),
    cmd("listDomainChildren", "Lists all children domains belonging to a specified domain", DomainAdmin, L, "domain",
        list_params![
            opt("id", Uuid, "list children domain by parent domain ID."),
            opt("name", String, "list children domains by name"),
            opt("isrecursive", Boolean, "to return the entire tree, use the value \"true\". To return the first level children, use the value \"false\"."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::DomainResponse::FIELDS),
    since(cmd("listRoles", "Lists dynamic roles in CloudStack", Admin, L, "role",
        list_params![
            opt("id", Uuid, "List role by role ID."),
            opt("name", String, "List role by role name."),
            opt("type", String, "List role by role type, valid options are: Admin, ResourceAdmin, DomainAdmin, User."),
        ],
        types::RoleResponse::FIELDS), "4.9.0"),
    cmd("createAccount", "Creates an account", DomainAdmin, O, "account",
        params![
            opt("accounttype", Integer, "Type of the account.  Specify 0 for user, 1 for root admin, and 2 for domain admin"),
            opt("roleid", Uuid, "Creates the account under the specified role."),
            req("email", String, "email"),
            req("firstname", String, "firstname"),
            req("lastname", String, "lastname"),
            req("password", String, "Clear text password (Default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter See Docs section."),
            req("username", String, "Unique username."),
            opt("account", String, "Name of the account to be created. The user will be added to this newly created account. If no account is specified, the username will be used as the account name."),
            opt("domainid", Uuid, "Creates the user under the specified domain."),
            opt("networkdomain", String, "Network domain for the account's networks"),
            opt("timezone", String, "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."),
            unsupported(opt("accountid", String, "Account UUID, required for adding account from external provisioning system"), "choosing the account's UUID (external provisioning) is not available yet"),
            unsupported(opt("userid", String, "User UUID, required for adding account from external provisioning system"), "choosing the user's UUID (external provisioning) is not available yet"),
        ],
        types::AccountResponse::FIELDS),
    cmd("listAccounts", "Lists accounts and provides detailed account information for listed accounts", AnyUser, L, "account",
        list_params![
            opt("id", Uuid, "list account by account ID"),
            opt("name", String, "list account by account name"),
            opt("accounttype", Integer, "list accounts by account type. Valid account types are 1 (admin), 2 (domain-admin), and 0 (user)."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("state", String, "list accounts by state. Valid states are enabled, disabled, and locked."),
            unsupported(opt("iscleanuprequired", Boolean, "list accounts by cleanuprequired attribute (values are true or false)"), "account clean-up is not tracked"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("roleid", Uuid, "List accounts by the role ID"),
        ],
        types::AccountResponse::FIELDS),
    cmd("updateAccount", "Updates account information for the authenticated user", DomainAdmin, O, "account",
        params![
            opt("id", Uuid, "Account UUID"),
            opt("account", String, "Current account name"),
            opt("domainid", Uuid, "The UUID of the domain where the account exists"),
            opt("newname", String, "New name for the account"),
            opt("networkdomain", String, "Network domain for the account's networks; empty string will update domainName with NULL value"),
            opt("roleid", Uuid, "The UUID of the dynamic role to set for the account"),
        ],
        types::AccountResponse::FIELDS),
    asynch(cmd("disableAccount", "Disables an account", DomainAdmin, O, "account",
        params![
            opt("id", Uuid, "Account id"),
            opt("account", String, "Disables specified account."),
            opt("domainid", Uuid, "Disables specified account in this domain."),
            req("lock", Boolean, "If true, only lock the account; else disable the account"),
        ],
        types::AccountResponse::FIELDS), "Account"),
    cmd("enableAccount", "Enables an account", DomainAdmin, O, "account",
        params![
            opt("id", Uuid, "Account id"),
            opt("account", String, "Enables specified account."),
            opt("domainid", Uuid, "Enables specified account in this domain."),
        ],
        types::AccountResponse::FIELDS),
    asynch(cmd("deleteAccount", "Deletes a account, and all users associated with this account", DomainAdmin, S, "success",
        params![req("id", Uuid, "Account id")], SUCCESS), "Account"),
    cmd("createUser", "Creates a user for an account that already exists", DomainAdmin, O, "user",
        params![
            req("account", String, "Creates the user under the specified account. If no account is specified, the username will be used as the account name."),
            opt("domainid", Uuid, "Creates the user under the specified domain. Has to be accompanied with the account parameter"),
            req("email", String, "email"),
            req("firstname", String, "firstname"),
            req("lastname", String, "lastname"),
            req("password", String, "Clear text password (Default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter See Docs section."),
            opt("timezone", String, "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."),
            req("username", String, "Unique username."),
            unsupported(opt("userid", String, "User UUID, required for adding account from external provisioning system"), "choosing the user's UUID (external provisioning) is not available yet"),
        ],
        types::UserResponse::FIELDS),
    cmd("listUsers", "Lists user accounts", AnyUser, L, "user",
        list_params![
            opt("id", Uuid, "List user by ID."),
            opt("username", String, "List user by the username"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("accounttype", Integer, "List users by account type. Valid types include admin, domain-admin, read-only-admin, or user."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("state", String, "List users by state of the user account."),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::UserResponse::FIELDS),
    cmd("updateUser", "Updates a user account", AnyUser, O, "user",
        params![
            req("id", Uuid, "User uuid"),
            opt("email", String, "email"),
            opt("firstname", String, "first name"),
            opt("lastname", String, "last name"),
            opt("password", String, "Clear text password (default hashed to SHA256SALT). If you wish to use any other hashing algorithm, you would need to write a custom authentication adapter. Can't be passed when command is executed via integration.api.port"),
            opt("currentpassword", String, "Current password that was being used by the user. You must inform the current password when updating the password."),
            opt("timezone", String, "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."),
            opt("username", String, "Unique username"),
        ],
        types::UserResponse::FIELDS),
    asynch(cmd("disableUser", "Disables a user account", DomainAdmin, O, "user",
        params![req("id", Uuid, "Disables user by user ID.")], types::UserResponse::FIELDS), "User"),
    cmd("enableUser", "Enables a user account", DomainAdmin, O, "user",
        params![req("id", Uuid, "Enables user by user ID.")], types::UserResponse::FIELDS),
    cmd("lockUser", "Locks a user account: the user can no longer log in or use the API until enabled again", DomainAdmin, O, "user",
        params![req("id", Uuid, "Locks user by user ID.")], types::UserResponse::FIELDS),
    cmd("getUser", "Find user account by API key", Admin, O, "user",
        params![req("userapikey", String, "API key of the user")], types::UserResponse::FIELDS),
    since(cmd("moveUser", "Moves a user to another account in the same domain.", DomainAdmin, S, "success",
        params![
            req("id", Uuid, "id of the user to be moved."),
            opt("account", String, "Moves user to specified account. If both account and accountId are provided, account takes precedence."),
            opt("accountid", Uuid, "Moves user to specified account."),
        ],
        SUCCESS), "4.11.0"),
    cmd("deleteUser", "Deletes a user for an account", DomainAdmin, S, "success",
        params![req("id", Uuid, "id of the user to be deleted")], SUCCESS),
    cmd("registerUserKeys", "This command allows a user to register for the developer API, returning a secret key and an API key. This request is made through the integration API port, so it is a privileged command and must be made on behalf of a user. It is up to the implementer just how the username and password are entered, and then how that translates to an integration API request. Both secret key and API key should be returned to the user", AnyUser, O, "userkeys",
        params![req("id", Uuid, "User id")], types::UserKeysResponse::FIELDS),
    since(cmd("getUserKeys", "This command allows the user to query the seceret and API keys for the account", AnyUser, O, "userkeys",
        params![req("id", Uuid, "ID of the user whose keys are required")], types::UserKeysResponse::FIELDS), "4.10.0"),
    // --- SSH key pairs ---
    cmd("createSSHKeyPair", "Create a new keypair and returns the private key", AnyUser, O, "keypair",
        params![
            req("name", String, "Name of the keypair"),
            KEY_OWNER[0], KEY_OWNER[1], KEY_OWNER[2],
        ],
        types::SshKeyPairResponse::FIELDS),
    cmd("registerSSHKeyPair", "Register a public key in a keypair under a certain name", AnyUser, O, "keypair",
        params![
            req("name", String, "Name of the keypair"),
            len(req("publickey", String, "Public key material of the keypair"), 5120),
            KEY_OWNER[0], KEY_OWNER[1], KEY_OWNER[2],
        ],
        types::SshKeyPairResponse::FIELDS),
    cmd("listSSHKeyPairs", "List registered keypairs", AnyUser, L, "sshkeypair",
        list_params![
            opt("id", Uuid, "the ID of the ssh keypair"),
            opt("name", String, "A key pair name to look for"),
            opt("fingerprint", String, "A public key fingerprint to look for"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::SshKeyPairResponse::FIELDS),
    cmd("deleteSSHKeyPair", "Deletes a keypair by name", AnyUser, S, "success",
        params![
            req("name", String, "Name of the keypair"),
            opt("account", String, "the account associated with the keypair. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "the domain ID associated with the keypair"),
            opt("projectid", Uuid, "the project associated with keypair"),
        ],
        SUCCESS),
    // --- security groups (Basic zones) ---
    since(cmd("createSecurityGroup", "Creates a security group", AnyUser, O, "securitygroup",
        params![
            req("name", String, "name of the security group"),
            opt("description", String, "the description of the security group"),
            opt("account", String, "an optional account for the security group. Must be used with domainId."),
            opt("domainid", Uuid, "an optional domainId for the security group. If the account parameter is used, domainId must also be used."),
            opt("projectid", Uuid, "Create security group for project"),
        ],
        types::SecurityGroupResponse::FIELDS), "3.0.0"),
    since(cmd("updateSecurityGroup", "Updates a security group", Admin, O, "securitygroup",
        params![
            req("id", Uuid, "The ID of the security group."),
            opt("name", String, "The new name of the security group."),
            unsupported(opt("customid", String, "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"), "custom ids are not available"),
        ],
        types::SecurityGroupResponse::FIELDS), "4.14.0"),
    since(cmd("deleteSecurityGroup", "Deletes security group", AnyUser, S, "success",
        params![
            opt("id", Uuid, "The ID of the security group. Mutually exclusive with name parameter"),
            opt("name", String, "The ID of the security group. Mutually exclusive with id parameter"),
            opt("account", String, "the account of the security group. Must be specified with domain ID"),
            opt("domainid", Uuid, "the domain ID of account owning the security group"),
            opt("projectid", Uuid, "the project of the security group"),
        ],
        SUCCESS), "3.0.0"),
    since(cmd("listSecurityGroups", "Lists security groups", AnyUser, L, "securitygroup",
        list_params![
            opt("id", Uuid, "list the security group by the id provided"),
            opt("securitygroupname", String, "lists security groups by name"),
            opt("virtualmachineid", Uuid, "lists security groups by virtual machine id"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            unsupported(opt("tags", Map, "List resources by tags (key/value pairs)"), "tags on security groups are not available yet"),
        ],
        types::SecurityGroupResponse::FIELDS), "3.0.0"),
    since(asynch(cmd("authorizeSecurityGroupIngress", "Authorizes a particular ingress rule for this security group", AnyUser, O, "securitygroup",
        SG_AUTHORIZE_PARAMS, types::SecurityGroupResponse::FIELDS), "SecurityGroup"), "3.0.0"),
    since(asynch(cmd("authorizeSecurityGroupEgress", "Authorizes a particular egress rule for this security group", AnyUser, O, "securitygroup",
        SG_AUTHORIZE_PARAMS, types::SecurityGroupResponse::FIELDS), "SecurityGroup"), "3.0.0"),
    since(asynch(cmd("revokeSecurityGroupIngress", "Deletes a particular ingress rule from this security group", AnyUser, S, "success",
        params![req("id", Uuid, "The ID of the ingress rule")],
        SUCCESS), "SecurityGroup"), "3.0.0"),
    since(asynch(cmd("revokeSecurityGroupEgress", "Deletes a particular egress rule from this security group", AnyUser, S, "success",
        params![req("id", Uuid, "The ID of the egress rule")],
        SUCCESS), "SecurityGroup"), "3.0.0"),
    // --- user data ---
    since(cmd("registerUserData", "Register a new userdata.", AnyUser, O, "userdata",
        params![
            req("name", String, "Name of the userdata"),
            req("userdata", String, "Base64 encoded userdata content. Using HTTP GET (via querystring), you can send up to 4KB of data after base64 encoding. Using HTTP POST (via POST body), you can send up to 1MB of data after base64 encoding. You also need to change vm.userdata.max.length value"),
            opt("params", String, "comma separated list of variables declared in userdata content"),
            opt("account", String, "an optional account for the userdata. Must be used with domainId."),
            opt("domainid", Uuid, "an optional domainId for the userdata. If the account parameter is used, domainId must also be used."),
            opt("projectid", Uuid, "an optional project for the userdata"),
        ],
        types::UserDataResponse::FIELDS), "4.18"),
    since(cmd("listUserData", "List registered userdatas", AnyUser, L, "userdata",
        list_params![
            opt("id", Uuid, "the ID of the Userdata"),
            opt("name", String, "Userdata name to look for"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::UserDataResponse::FIELDS), "4.18"),
    since(cmd("deleteUserData", "Deletes a userdata", AnyUser, S, "success",
        params![
            req("id", Uuid, "the ID of the Userdata"),
            opt("account", String, "an optional account for the userdata. Must be used with domainId."),
            opt("domainid", Uuid, "an optional domainId for the userdata. If the account parameter is used, domainId must also be used."),
            opt("projectid", Uuid, "an optional project for the userdata"),
        ],
        SUCCESS), "4.18"),
    since(cmd("getVirtualMachineUserData", "Returns user data associated with the VM", AnyUser, O, "virtualmachineuserdata",
        params![req("virtualmachineid", Uuid, "The ID of the virtual machine")],
        types::VmUserDataResponse::FIELDS), "4.4"),
    since(cmd("resetUserDataForVirtualMachine", "Resets the UserData for virtual machine. The virtual machine must be in a \"Stopped\" state.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("userdata", String, "an optional binary data that can be sent to the virtual machine upon a successful deployment. This binary data must be base64 encoded before adding it to the request."),
            opt("userdataid", Uuid, "the ID of the userdata"),
        ],
        types::VirtualMachineResponse::FIELDS), "4.18.0"),
    asynch(cmd("resetSSHKeyForVirtualMachine", "Resets the SSH Key for virtual machine. The virtual machine must be in a \"Stopped\" state.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("keypair", String, "name of the ssh key pair used to login to the virtual machine"),
            opt("keypairs", List, "names of the ssh key pairs to be used to login to the virtual machine"),
            opt("account", String, "an optional account for the ssh key. Must be used with domainId."),
            opt("domainid", Uuid, "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."),
            opt("projectid", Uuid, "an optional project for the ssh key"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    cmd("updateVirtualMachine", "Updates properties of a virtual machine. The VM has to be stopped and restarted for the new properties to take effect. UpdateVirtualMachine does not first check whether the VM is stopped. Therefore, stop the VM manually before issuing this call.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            len(opt("displayname", String, "user generated name"), 255),
            len(opt("name", String, "new host name of the vm. The VM has to be stopped/started for this update to take affect"), 63),
            opt("userdata", String, "an optional binary data that can be sent to the virtual machine upon a successful deployment. This binary data must be base64 encoded before adding it to the request. Using HTTP GET (via querystring), you can send up to 4KB of data after base64 encoding. Using HTTP POST (via POST body), you can send up to 1MB of data after base64 encoding. You also need to change vm.userdata.max.length value"),
            opt("userdataid", Uuid, "the ID of the userdata"),
            uuids("securitygroupids", "list of security group ids to be applied on the virtual machine."),
            opt("securitygroupnames", List, "comma separated list of security groups names that going to be applied to the virtual machine. Should be passed only when vm is created from a zone with Basic Network support. Mutually exclusive with securitygroupids parameter"),
            unsupported(opt("haenable", Boolean, "true if high-availability is enabled for the virtual machine, false otherwise"), "high availability is not available yet"),
            unsupported(opt("group", String, "group of the virtual machine"), "instance groups are not available yet"),
            unsupported(opt("ostypeid", Uuid, "the ID of the OS type that best represents this VM."), "changing a VM's OS type is not available yet"),
            unsupported(opt("details", Map, "Details in key/value pairs. 'extraconfig' is not allowed to be passed in details."), NO_DETAILS),
            unsupported(opt("isdynamicallyscalable", Boolean, "true if VM contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"), "dynamic scaling is not available"),
            unsupported(opt("displayvm", Boolean, "an optional field, whether to the display the vm to the end user or not."), "hiding VMs is not available yet"),
        ],
        types::VirtualMachineResponse::FIELDS),
    cmd("changeServiceForVirtualMachine", "Changes the service offering for a virtual machine. The virtual machine must be in a \"Stopped\" state for this command to take effect.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            req("serviceofferingid", Uuid, "the service offering ID to apply to the virtual machine"),
            unsupported(opt("details", Map, "name value pairs of custom parameters for cpuspeed, memory and cpunumber. example details[i].name=value"), "custom offerings are not available yet"),
        ],
        types::VirtualMachineResponse::FIELDS),
    asynch(cmd("scaleVirtualMachine", "Scales the virtual machine to a new service offering. This command also considers the volume size in the service offering or disk offering linked to the new service offering and apply all characteristics to the root volume.", AnyUser, S, "success",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            req("serviceofferingid", Uuid, "the ID of the service offering for the virtual machine"),
            unsupported(opt("details", Map, "name value pairs of custom parameters for cpuspeed, memory and cpunumber. example details[i].name=value"), "custom offerings are not available yet"),
        ],
        SUCCESS), "VirtualMachine"),
    cmd("getVMPassword", "Returns an encrypted password for the VM", AnyUser, O, "password",
        params![req("id", Uuid, "The ID of the virtual machine")],
        types::VmPasswordResponse::FIELDS),
    asynch(cmd("resetPasswordForVirtualMachine", "Resets the password for virtual machine. The virtual machine must be in a \"Stopped\" state and the template must already support this feature for this command to take effect.", AnyUser, O, "virtualmachine",
        params![req("id", Uuid, "The ID of the virtual machine")],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    // --- topology ---
    cmd("createZone", "Creates a Zone.", Admin, O, "zone",
        params![
            len(req("name", String, "the name of the Zone"), 255),
            req("dns1", String, "the first DNS for the Zone"),
            opt("dns2", String, "the second DNS for the Zone"),
            opt("ip6dns1", String, "the first DNS for IPv6 network in the Zone"),
            opt("ip6dns2", String, "the second DNS for IPv6 network in the Zone"),
            req("internaldns1", String, "the first internal DNS for the Zone"),
            opt("internaldns2", String, "the second internal DNS for the Zone"),
            opt("guestcidraddress", String, "the guest CIDR address for the Zone"),
            req("networktype", String, "network type of the zone, can be Basic or Advanced"),
            opt("allocationstate", String, "Allocation state of this Zone for allocation of new resources"),
            opt("domain", String, "Network domain name for the networks in the zone"),
            opt("domainid", Uuid, "the ID of the containing domain, null for public zones"),
            opt("securitygroupenabled", Boolean, "true if network is security group enabled, false otherwise"),
            opt("localstorageenabled", Boolean, "true if local storage offering enabled, false otherwise"),
            opt("isedge", Boolean, "true if the zone is an edge zone, false otherwise"),
        ],
        types::ZoneResponse::FIELDS),
    cmd("listZones", "Lists zones", AnyUser, L, "zone",
        list_params![
            opt("id", Uuid, "the ID of the zone"),
            uuids("ids", "the IDs of the zones, mutually exclusive with id"),
            opt("name", String, "the name of the zone"),
            opt("available", Boolean, "true if you want to retrieve all available Zones. False if you only want to return the Zones from which you have at least one VM. Default is false."),
            opt("domainid", Uuid, "the ID of the domain associated with the zone"),
            opt("networktype", String, "the network type of the zone that the virtual machine belongs to"),
            opt("showcapacities", Boolean, "flag to display the capacity of the zones"),
            opt("tags", Map, "List zones by resource tags (key/value pairs); zones take no tags, so a filter matches none"),
        ],
        types::ZoneResponse::FIELDS),
    cmd("updateZone", "Updates a Zone.", Admin, O, "zone", ZONE_UPDATE_PARAMS, types::ZoneResponse::FIELDS),
    cmd("deleteZone", "Deletes a Zone.", Admin, S, "success",
        params![req("id", Uuid, "the ID of the Zone")], SUCCESS),
    cmd("createPod", "Creates a new Pod.", Admin, O, "pod",
        params![
            req("zoneid", Uuid, "the Zone ID in which the Pod will be created"),
            req("name", String, "the name of the Pod"),
            opt("gateway", String, "the gateway for the Pod"),
            opt("netmask", String, "the netmask for the Pod"),
            opt("startip", String, "the starting IP address for the Pod"),
            opt("endip", String, "the ending IP address for the Pod"),
            opt("allocationstate", String, "Allocation state of this Pod for allocation of new resources"),
        ],
        types::PodResponse::FIELDS),
    cmd("listPods", "Lists all Pods.", Admin, L, "pod",
        list_params![
            opt("id", Uuid, "list Pods by ID"),
            opt("name", String, "list Pods by name"),
            opt("zoneid", Uuid, "list Pods by Zone ID"),
            opt("allocationstate", String, "list pods by allocation state"),
            opt("showcapacities", Boolean, "flag to display the capacity of the pods"),
        ],
        types::PodResponse::FIELDS),
    cmd("updatePod", "Updates a Pod.", Admin, O, "pod",
        params![
            req("id", Uuid, "the ID of the Pod"),
            opt("name", String, "the name of the Pod"),
            opt("startip", String, "the starting IP address for the Pod"),
            opt("endip", String, "the ending IP address for the Pod"),
            opt("gateway", String, "the gateway for the Pod"),
            opt("netmask", String, "the netmask of the Pod"),
            opt("allocationstate", String, "Allocation state of this cluster for allocation of new resources"),
        ],
        types::PodResponse::FIELDS),
    cmd("deletePod", "Deletes a Pod.", Admin, S, "success",
        params![req("id", Uuid, "the ID of the Pod")], SUCCESS),
    cmd("createVlanIpRange", "Creates a VLAN IP range.", Admin, O, "vlan",
        params![
            opt("zoneid", Uuid, "the Zone ID of the VLAN IP range"),
            opt("podid", Uuid, "optional parameter. Have to be specified for Direct Untagged vlan only."),
            opt("networkid", Uuid, "the network id"),
            opt("physicalnetworkid", Uuid, "the physical network id"),
            opt("vlan", String, "the ID or VID of the VLAN. If not specified, will be defaulted to the vLAN of the network or if vlan of the network is null - to Untagged"),
            opt("gateway", String, "the gateway of the VLAN IP range"),
            opt("netmask", String, "the netmask of the VLAN IP range"),
            opt("startip", String, "the beginning IP address in the VLAN IP range"),
            opt("endip", String, "the ending IP address in the VLAN IP range"),
            opt("forvirtualnetwork", Boolean, "true if VLAN is of Virtual type, false if Direct"),
            opt("forsystemvms", Boolean, "true if IP range is set to system vms, false if not"),
            unsupported(opt("account", String, "account who will own the VLAN. If VLAN is Zone wide, this parameter should be omitted"), "IP ranges dedicated to an account are not available yet"),
            unsupported(opt("domainid", Uuid, "domain ID of the account owning a VLAN"), "IP ranges dedicated to a domain are not available yet"),
            unsupported(opt("projectid", Uuid, "project who will own the VLAN"), PROJECTS),
        ],
        types::VlanIpRangeResponse::FIELDS),
    cmd("listVlanIpRanges", "Lists all VLAN IP ranges.", Admin, L, "vlaniprange",
        list_params![
            opt("id", Uuid, "the ID of the VLAN IP range"),
            opt("zoneid", Uuid, "the Zone ID of the VLAN IP range"),
            opt("podid", Uuid, "the Pod ID of the VLAN IP range"),
            opt("vlan", String, "the ID or VID of the VLAN. Default is an \"untagged\" VLAN."),
            opt("networkid", Uuid, "network id of the VLAN IP range"),
            opt("physicalnetworkid", Uuid, "physical network id of the VLAN IP range"),
            opt("forvirtualnetwork", Boolean, "true if VLAN is of Virtual type, false if Direct"),
        ],
        types::VlanIpRangeResponse::FIELDS),
    cmd("deleteVlanIpRange", "Creates a VLAN IP range.", Admin, S, "success",
        params![req("id", Uuid, "the id of the VLAN IP range")], SUCCESS),
    cmd("addCluster", "Adds a new cluster", Admin, OL, "cluster",
        params![
            req("clustername", String, "the cluster name"),
            req("clustertype", String, "type of the cluster: CloudManaged, ExternalManaged"),
            req("hypervisor", String, "hypervisor type of the cluster: XenServer,KVM,VMware,Hyperv,BareMetal,Simulator,Ovm3"),
            req("zoneid", Uuid, "the Zone ID for the cluster"),
            req("podid", Uuid, "the Pod ID for the host"),
            opt("allocationstate", String, "Allocation state of this cluster for allocation of new resources"),
            opt("arch", String, "the CPU arch of the cluster. Valid options are: x86_64, aarch64"),
            unsupported(opt("url", String, "the URL"), "a KVM cluster has no URL (url, username and password are for VMware)"),
            unsupported(opt("username", String, "the username for the cluster"), "a KVM cluster has no credentials (addHost takes them)"),
            unsupported(opt("password", String, "the password for the host"), "a KVM cluster has no credentials (addHost takes them)"),
        ],
        types::ClusterResponse::FIELDS),
    cmd("listClusters", "Lists clusters.", Admin, L, "cluster",
        list_params![
            opt("id", Uuid, "lists clusters by the cluster ID"),
            opt("name", String, "lists clusters by the cluster name"),
            opt("podid", Uuid, "lists clusters by Pod ID"),
            opt("zoneid", Uuid, "lists clusters by Zone ID"),
            opt("hypervisor", String, "lists clusters by hypervisor type"),
            opt("clustertype", String, "lists clusters by cluster type"),
            opt("allocationstate", String, "lists clusters by allocation state"),
            opt("managedstate", String, "whether this cluster is managed by cloudstack"),
            opt("showcapacities", Boolean, "flag to display the capacity of the clusters"),
        ],
        types::ClusterResponse::FIELDS),
    cmd("updateCluster", "Updates an existing cluster", Admin, O, "cluster",
        params![
            req("id", Uuid, "the ID of the Cluster"),
            opt("clustername", String, "the cluster name"),
            opt("allocationstate", String, "Allocation state of this cluster for allocation of new resources"),
            opt("clustertype", String, "hypervisor type of the cluster"),
            opt("hypervisor", String, "hypervisor type of the cluster"),
            opt("managedstate", String, "whether this cluster is managed by cloudstack"),
        ],
        types::ClusterResponse::FIELDS),
    cmd("deleteCluster", "Deletes a cluster.", Admin, S, "success",
        params![req("id", Uuid, "the cluster ID")], SUCCESS),
    // --- hosts ---
    cmd("addHost", "Adds a new host.", Admin, OL, "host",
        params![
            req("zoneid", Uuid, "the Zone ID for the host"),
            req("podid", Uuid, "the Pod ID for the host"),
            opt("clusterid", Uuid, "the cluster ID for the host"),
            opt("clustername", String, "the cluster name for the host"),
            req("url", String, "the host URL"),
            req("username", String, "the username for the host; required to be passed for hypervisors other than VMWare"),
            req("password", String, "the password for the host; required to be passed for hypervisors other than VMWare"),
            req("hypervisor", String, "hypervisor type of the host"),
            opt("allocationstate", String, "Allocation state of this Host for allocation of new resources"),
            opt("hosttags", List, "list of tags to be added to the host"),
        ],
        types::HostResponse::FIELDS),
    cmd("listHosts", "Lists hosts.", Admin, L, "host",
        list_params![
            opt("id", Uuid, "the id of the host"),
            uuids("ids", "the ids of the hosts"),
            opt("name", String, "the name of the host"),
            opt("zoneid", Uuid, "the Zone ID for the host"),
            opt("podid", Uuid, "the Pod ID for the host"),
            opt("clusterid", Uuid, "lists hosts existing in particular cluster"),
            opt("state", String, "the state of the host"),
            opt("resourcestate", String, "list hosts by resource state. Resource state represents current state determined by admin of host, value can be one of [Enabled, Disabled, Unmanaged, PrepareForMaintenance, ErrorInMaintenance, Maintenance, Error]"),
            opt("type", String, "the host type"),
            opt("hypervisor", String, "hypervisor type of host: XenServer,KVM,VMware,Hyperv,BareMetal,Simulator"),
            opt("details", List, "comma separated list of host details requested, value can be a list of [ min, all, capacity, events, stats]"),
        ],
        types::HostResponse::FIELDS),
    since(cmd("listHostsMetrics", "Lists hosts metrics", Admin, L, "host",
        list_params![
            opt("id", Uuid, "the id of the host"),
            opt("name", String, "the name of the host"),
            opt("zoneid", Uuid, "the Zone ID for the host"),
            opt("podid", Uuid, "the Pod ID for the host"),
            opt("clusterid", Uuid, "lists hosts existing in particular cluster"),
            opt("state", String, "the state of the host"),
            opt("resourcestate", String, "list hosts by resource state"),
            opt("type", String, "the host type"),
        ],
        types::HostResponse::FIELDS), "4.9.3"),
    cmd("listBackgroundTasks", "Lists the management servers' background tasks (housekeeping, the host monitor, ISO clean-up) with the outcome of their last pass; a Stratus command", Admin, L, "backgroundtask",
        list_params![
            opt("name", String, "the task's name"),
            opt("state", String, "OK, Failing, Late or ServerStopped"),
        ],
        types::BackgroundTaskResponse::FIELDS),
    cmd("listWorkflows", "Lists workflows, the multi-step operations (deploy, start, reboot, expunge) with the step each is in and since when, newest first; a Stratus command", Admin, L, "workflow",
        params![
            PAGING[1], PAGING[2],
            opt("id", Uuid, "the ID of the workflow"),
            opt("resourceid", Uuid, "the ID of the resource it works on (e.g. a VM)"),
            opt("state", String, "Running, Unwinding, Succeeded or Failed"),
        ],
        types::WorkflowResponse::FIELDS),
    cmd("listHostsUsageHistory", "Lists the CPU, memory and network samples kept for hosts (setting host.metrics.retention.hours); a Stratus command shaped as listVirtualMachinesUsageHistory", Admin, L, "host",
        list_params![
            opt("id", Uuid, "the ID of the host"),
            uuids("ids", "the IDs of the hosts, mutually exclusive with id"),
            opt("name", String, "the name of the host"),
            opt("startdate", Date, "start date to filter stats (\"yyyy-MM-dd\" or \"yyyy-MM-dd HH:mm:ss\"); default: all retained samples"),
            opt("enddate", Date, "end date to filter stats"),
        ],
        types::HostStatsResponse::FIELDS),
    cmd("listHostTags", "Lists host tags", Admin, L, "hosttag",
        list_params![], types::HostTagResponse::FIELDS),
    cmd("updateHost", "Updates a host.", Admin, O, "host",
        params![
            req("id", Uuid, "the ID of the host to update"),
            opt("allocationstate", String, "Change resource state of host, valid values are [Enable, Disable]. Operation may failed if host in states not allowing Enable/Disable"),
            opt("name", String, "the new name of the host"),
            opt("hosttags", List, "list of tags to be added to the host (replaces its tags; empty clears them)"),
            unsupported(opt("istagarule", Boolean, "Whether the informed tag is a JS interpretable rule or not."), TAG_RULES),
        ],
        types::HostResponse::FIELDS),
    cmd("deleteHost", "Deletes a host.", Admin, S, "success",
        params![
            req("id", Uuid, "the host ID"),
            opt("forced", Boolean, "Force delete the host. All HA enabled vms running on the host will be put to HA; HA disabled ones will be stopped"),
            unsupported(opt("forcedestroylocalstorage", Boolean, "Force destroy local storage on this host. All VMs created on this local storage will be destroyed"), "local storage is not available"),
        ],
        SUCCESS),
    asynch(cmd("prepareHostForMaintenance", "Prepares a host for maintenance.", Admin, O, "host",
        params![req("id", Uuid, "the host ID")], types::HostResponse::FIELDS), "Host"),
    asynch(cmd("cancelHostMaintenance", "Cancels host maintenance.", Admin, O, "host",
        params![req("id", Uuid, "the host ID")], types::HostResponse::FIELDS), "Host"),
    asynch(cmd("reconnectHost", "Reconnects a host.", Admin, O, "host",
        params![req("id", Uuid, "the host ID")], types::HostResponse::FIELDS), "Host"),
    // --- live migration (issue 16) ---
    asynch(cmd("migrateVirtualMachine", "Attempts Migration of a VM to a different host or Root volume of the vm to a different storage pool", Admin, O, "virtualmachine",
        params![
            req("virtualmachineid", Uuid, "the ID of the virtual machine"),
            opt("hostid", Uuid, "Destination Host ID to migrate VM to."),
            opt("autoselect", Boolean, "Automatically select a destination host which do not require storage migration, if hostId and storageId are not specified. false by default"),
            unsupported(opt("storageid", Uuid, "Destination storage pool ID to migrate VM volumes to. Required for migrating the root disk volume"), "storage migration is not available (primary storage is shared NFS)"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    cmd("findHostsForMigration", "Find hosts suitable for migrating a virtual machine.", Admin, L, "host",
        list_params![req("id", Uuid, "find hosts to which this VM can be migrated and flag the hosts with enough CPU/RAM to host the VM")],
        types::HostForMigrationResponse::FIELDS),
    // --- offerings ---
    cmd("createServiceOffering", "Creates a service offering.", Admin, O, "serviceoffering",
        params![
            len(req("name", String, "the name of the service offering"), 255),
            len(opt("displaytext", String, "The display text of the service offering, defaults to 'name'."), 4096),
            opt("cpunumber", Integer, "the CPU number of the service offering"),
            opt("cpuspeed", Integer, "the CPU speed of the service offering in MHz."),
            opt("memory", Integer, "the total memory of the service offering in MB"),
            opt("storagetype", String, "the storage type of the service offering. Values are local and shared."),
            opt("hosttags", String, "the host tag for this service offering."),
            opt("tags", String, "the tags for this service offering (storage tags its VMs' root volumes' pools must carry)."),
            opt("offerha", Boolean, "the HA for the service offering"),
            opt("limitcpuuse", Boolean, "restrict the CPU usage to committed service offering"),
            opt("isvolatile", Boolean, "true if the virtual machine needs to be volatile so that on every reboot of VM, original root disk is dettached then destroyed and a fresh root disk is created and attached to VM"),
            unsupported(opt("domainid", List, "the ID of the containing domain(s), null for public offerings"), DOMAIN_OFFERINGS),
        ],
        types::ServiceOfferingResponse::FIELDS),
    cmd("listServiceOfferings", "Lists all available service offerings.", AnyUser, L, "serviceoffering",
        list_params![
            opt("id", Uuid, "ID of the service offering"),
            opt("name", String, "name of the service offering"),
            opt("issystem", Boolean, "is this a system vm offering"),
            unsupported(opt("virtualmachineid", Uuid, "the ID of the virtual machine. Pass this in if you want to see the available service offering that a virtual machine can be changed to."), "changing a VM's service offering is not available yet"),
            opt("zoneid", Uuid, "id of zone disk offering is associated with"),
            opt("cpunumber", Integer, "The CPU number that listed offerings must support"),
            opt("memory", Integer, "The RAM memory that listed offering must support"),
            opt("cpuspeed", Integer, "The CPU speed that listed offerings must support"),
        ],
        types::ServiceOfferingResponse::FIELDS),
    cmd("updateServiceOffering", "Updates a service offering.", Admin, O, "serviceoffering",
        params![
            req("id", Uuid, "the ID of the service offering to be updated"),
            opt("name", String, "the name of the service offering to be updated"),
            opt("displaytext", String, "the display text of the service offering to be updated"),
            opt("hosttags", String, "comma-separated list of host tags for the service offering."),
            opt("storagetags", String, "comma-separated list of tags for the service offering, tags should match with existing storage pool tags"),
        ],
        types::ServiceOfferingResponse::FIELDS),
    cmd("deleteServiceOffering", "Deletes a service offering.", Admin, S, "success",
        params![req("id", Uuid, "the ID of the service offering")], SUCCESS),
    cmd("createDiskOffering", "Creates a disk offering.", Admin, O, "diskoffering",
        params![
            len(req("name", String, "name of the disk offering"), 255),
            len(opt("displaytext", String, "An alternate display text of the disk offering, defaults to 'name'."), 4096),
            opt("disksize", Long, "size of the disk offering in GB (1GB = 1,073,741,824 bytes)"),
            opt("customized", Boolean, "whether disk offering size is custom or not"),
            opt("storagetype", String, "the storage type of the disk offering. Values are local and shared."),
            opt("tags", String, "tags for the disk offering"),
            unsupported(opt("domainid", List, "the ID of the containing domain(s), null for public offerings"), DOMAIN_OFFERINGS),
        ],
        types::DiskOfferingResponse::FIELDS),
    cmd("listDiskOfferings", "Lists all available disk offerings.", AnyUser, L, "diskoffering",
        list_params![
            opt("id", Uuid, "ID of the disk offering"),
            opt("name", String, "name of the disk offering"),
            opt("zoneid", Uuid, "id of zone disk offering is associated with"),
        ],
        types::DiskOfferingResponse::FIELDS),
    cmd("updateDiskOffering", "Updates a disk offering.", Admin, O, "diskoffering",
        params![
            req("id", Uuid, "ID of the disk offering"),
            opt("name", String, "updates name of the disk offering with this value"),
            opt("displaytext", String, "updates alternate display text of the disk offering with this value"),
            opt("tags", String, "comma-separated list of tags for the disk offering, tags should match with existing storage pool tags"),
        ],
        types::DiskOfferingResponse::FIELDS),
    cmd("deleteDiskOffering", "Updates a disk offering.", Admin, S, "success",
        params![req("id", Uuid, "ID of the disk offering")], SUCCESS),
    // --- instances ---
    asynch(cmd("deployVirtualMachine", "Creates and automatically starts a virtual machine based on a service offering, disk offering, and template (here: a bootable ISO).", AnyUser, O, "virtualmachine",
        params![
            req("serviceofferingid", Uuid, "the ID of the service offering for the virtual machine"),
            req("zoneid", Uuid, "availability zone for the virtual machine"),
            req("templateid", Uuid, "the ID of the template (or, as here, a bootable ISO) for the virtual machine"),
            opt("diskofferingid", Uuid, "the ID of the disk offering for the root disk (required when installing from an ISO)"),
            opt("size", Long, "the arbitrary size for the DATADISK volume (GB). Mutually exclusive with diskOfferingId"),
            opt("rootdisksize", Long, "Optional field to resize root disk on deploy. Value is in GB"),
            opt("hypervisor", String, "the hypervisor on which to deploy the virtual machine (KVM); required when deploying from an ISO"),
            len(opt("name", String, "host name for the virtual machine"), 63),
            len(opt("displayname", String, "an optional user generated name for the virtual machine"), 255),
            uuids("networkids", "list of network ids used by virtual machine"),
            opt("ipaddress", String, "the ip address for default vm's network"),
            opt("keypair", String, "name of the ssh key pair used to login to the virtual machine"),
            opt("keypairs", List, "names of the ssh key pairs used to login to the virtual machine"),
            opt("startvm", Boolean, "true if start vm after creating; defaulted to true if not specified"),
            opt("hostid", Uuid, "destination Host ID to deploy the VM to - parameter available for root admin only"),
            unsupported(opt("clusterid", Uuid, "destination Cluster ID to deploy the VM to - parameter available for root admin only"), "choosing the cluster is not available yet (hostid is)"),
            unsupported(opt("podid", Uuid, "destination Pod ID to deploy the VM to - parameter available for root admin only"), "choosing the pod is not available yet (hostid is)"),
            opt("userdata", String, "an optional binary data that can be sent to the virtual machine upon a successful deployment. This binary data must be base64 encoded before adding it to the request. Using HTTP GET (via querystring), you can send up to 4KB of data after base64 encoding. Using HTTP POST (via POST body), you can send up to 1MB of data after base64 encoding. You also need to change vm.userdata.max.length value"),
            opt("userdataid", Uuid, "the ID of the Userdata"),
            unsupported(opt("account", String, "an optional account for the virtual machine. Must be used with domainId."), OTHER_ACCOUNT),
            unsupported(opt("domainid", Uuid, "an optional domainId for the virtual machine. If the account parameter is used, domainId must also be used."), OTHER_ACCOUNT),
            unsupported(opt("details", Map, "used to specify the custom parameters"), NO_DETAILS),
            opt("projectid", Uuid, "Deploy vm for the project"),
            uuids("securitygroupids", "comma separated list of security groups id that going to be applied to the virtual machine. Should be passed only when vm is created from a zone with Basic Network support. Mutually exclusive with securitygroupnames parameter"),
            opt("securitygroupnames", List, "comma separated list of security groups names that going to be applied to the virtual machine. Should be passed only when vm is created from a zone with Basic Network support. Mutually exclusive with securitygroupids parameter"),
            unsupported(uuids("affinitygroupids", "comma separated list of affinity groups id that are going to be applied to the virtual machine. Mutually exclusive with affinitygroupnames parameter"), AFFINITY_GROUPS),
            unsupported(opt("affinitygroupnames", List, "comma separated list of affinity groups names that are going to be applied to the virtual machine.Mutually exclusive with affinitygroupids parameter"), AFFINITY_GROUPS),
            unsupported(opt("ip6address", String, "the ipv6 address for default vm's network"), "IPv6 guest addresses are not available yet"),
            unsupported(opt("macaddress", String, "an optional mac address that will be applied to the default nic"), "choosing the MAC address is not available yet"),
            unsupported(opt("iptonetworklist", Map, "ip to network mapping. Can't be specified with networkIds parameter. Example: iptonetworklist[0].ip=10.10.10.11&iptonetworklist[0].ipv6=fc00:1234:5678::abcd&iptonetworklist[0].networkid=uuid&iptonetworklist[0].mac=aa:bb:cc:dd:ee::ff - requests to use ip 10.10.10.11 in network id=uuid"), "per-network addresses are not available yet (ipaddress is, for the default network)"),
            unsupported(opt("dhcpoptionsnetworklist", Map, "DHCP options which are passed to the VM on start up"), "extra DHCP options are not available yet"),
            unsupported(opt("nicnetworklist", Map, "VMware only: used to specify network mapping of a vApp VMware template"), "VMware vApp templates do not apply to KVM"),
            unsupported(opt("datadiskofferinglist", Map, "datadisk template to disk-offering mapping"), DATA_VOLUMES),
            unsupported(opt("deploymentplanner", String, "Deployment planner to use for vm allocation. Available to ROOT admin only"), "choosing the deployment planner is not available"),
            unsupported(len(opt("extraconfig", String, "an optional URL encoded string that can be passed to the virtual machine upon successful deployment"), 5120), "extra hypervisor configuration is not available"),
            unsupported(opt("bootmode", String, "Boot Mode [Legacy] or [Secure] Applicable when Boot Type Selected is UEFI, otherwise Legacy only for BIOS. Not applicable with VMware if the template is marked as deploy-as-is, as we honour what is defined in the template."), "choosing the boot mode is not available yet"),
            unsupported(opt("boottype", String, "Guest VM Boot option either custom[UEFI] or default boot [BIOS]. Not applicable with VMware if the template is marked as deploy-as-is, as we honour what is defined in the template."), "choosing the boot type (UEFI) is not available yet"),
            unsupported(opt("group", String, "an optional group for the virtual machine"), "instance groups are not available yet"),
            unsupported(opt("keyboard", String, "an optional keyboard device type for the virtual machine. valid value can be one of de,de-ch,es,fi,fr,fr-be,fr-ch,is,it,jp,nl-be,no,pt,uk,us"), "choosing the console keyboard layout is not available yet"),
            unsupported(opt("properties", Map, "used to specify the vApp properties."), "vApp properties do not apply to KVM templates"),
            unsupported(opt("customid", String, "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"), "choosing the VM's UUID is not available"),
            unsupported(opt("dynamicscalingenabled", Boolean, "true if virtual machine needs to be dynamically scalable"), "dynamic scaling is not available"),
            unsupported(opt("copyimagetags", Boolean, "if true the image tags (if any) will be copied to the VM, default value is false"), "copying image tags is not available yet"),
            unsupported(opt("leaseduration", Integer, "Number of days instance is leased for."), "instance leases are not available yet"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    cmd("listVirtualMachines", "List the virtual machines owned by the account.", AnyUser, L, "virtualmachine", VM_LIST_PARAMS, types::VirtualMachineResponse::FIELDS),
    cmd("listVirtualMachinesMetrics", "Lists VM metrics", AnyUser, L, "virtualmachine", VM_LIST_PARAMS, types::VirtualMachineResponse::FIELDS),
    cmd("listVirtualMachinesUsageHistory", "Lists the CPU, memory, disk and network samples kept for VMs (setting vm.stats.max.retention.time)", AnyUser, L, "virtualmachine",
        list_params![
            opt("id", Uuid, "the ID of the virtual machine"),
            uuids("ids", "the IDs of the virtual machines, mutually exclusive with id"),
            opt("name", String, "name of the virtual machine (a substring match)"),
            opt("startdate", Date, "start date to filter stats (\"yyyy-MM-dd\" or \"yyyy-MM-dd HH:mm:ss\"); default: all retained samples"),
            opt("enddate", Date, "end date to filter stats"),
        ],
        types::VmStatsResponse::FIELDS),
    asynch(cmd("startVirtualMachine", "Starts a virtual machine.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("hostid", Uuid, "destination Host ID to deploy the VM to - parameter available for root admin only"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("stopVirtualMachine", "Stops a virtual machine.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("forced", Boolean, "Force stop the VM (vm is marked as Stopped even when command fails to be send to the backend, otherwise a force poweroff is attempted). The caller knows the VM is stopped."),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("rebootVirtualMachine", "Reboots a virtual machine.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("forced", Boolean, "Force reboot the VM (VM is Stopped and then Started)"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("destroyVirtualMachine", "Destroys a virtual machine. Once destroyed, only the administrator can recover it.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "The ID of the virtual machine"),
            opt("expunge", Boolean, "If true is passed, the vm is expunged immediately. False by default."),
            unsupported(uuids("volumeids", "Comma separated list of UUIDs for volumes that will be deleted"), DATA_VOLUMES),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("restoreVirtualMachine", "Restore a VM to original template/ISO or new template/ISO", AnyUser, O, "virtualmachine",
        params![
            req("virtualmachineid", Uuid, "Virtual Machine ID"),
            opt("templateid", Uuid, "an optional template Id to restore vm from the new template. This can be an ISO id in case of restore vm deployed using ISO"),
            opt("rootdisksize", Integer, "Override root volume's size (in GB). Analogous to details[0].rootdisksize, which takes precedence over this parameter if both are provided"),
            unsupported(opt("diskofferingid", Uuid, "Override root volume's diskoffering."), "a restored root volume keeps the VM's disk offering"),
            unsupported(opt("details", Map, "used to specify the custom parameters"), "custom parameters are not available"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    cmd("recoverVirtualMachine", "Recovers a virtual machine.", AnyUser, O, "virtualmachine",
        params![req("id", Uuid, "The ID of the virtual machine")],
        types::VirtualMachineResponse::FIELDS),
    asynch(cmd("expungeVirtualMachine", "Expunge a virtual machine. Once expunged, it cannot be recoverd.", Admin, S, "success",
        params![req("id", Uuid, "The ID of the virtual machine")],
        SUCCESS), "VirtualMachine"),
    asynch(cmd("attachIso", "Attaches an ISO to a virtual machine.", AnyUser, O, "virtualmachine",
        params![
            req("id", Uuid, "the ID of the ISO file"),
            req("virtualmachineid", Uuid, "the ID of the virtual machine"),
            opt("forced", Boolean, "If true, ejects existing ISO before attaching on VMware. Default: false"),
        ],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("detachIso", "Detaches any ISO file (if any) currently attached to a virtual machine.", AnyUser, O, "virtualmachine",
        params![req("virtualmachineid", Uuid, "The ID of the virtual machine")],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    // --- Data volumes (issue 16) ---
    asynch(cmd("createVolume", "Creates a disk volume from a disk offering. This disk volume must still be attached to a virtual machine to make use of it.", AnyUser, O, "volume",
        params![
            len(opt("name", String, "the name of the disk volume"), 255),
            opt("diskofferingid", Uuid, "the ID of the disk offering. Either diskOfferingId or snapshotId must be passed in."),
            opt("size", Long, "Arbitrary volume size (in GB)"),
            opt("zoneid", Uuid, "the ID of the availability zone"),
            opt("virtualmachineid", Uuid, "the ID of the virtual machine; to be used with snapshot Id, VM to which the volume gets attached after creation"),
            opt("account", String, "the account associated with the disk volume. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "the domain ID associated with the disk offering. If used with the account parameter returns the disk volume associated with the account for the specified domain."),
            opt("projectid", Uuid, "the project associated with the volume. Mutually exclusive with account parameter"),
            opt("displayvolume", Boolean, "an optional field, whether to display the volume to the end user or not."),
            opt("snapshotid", Uuid, "the snapshot ID for the disk volume. Either diskOfferingId or snapshotId must be passed in."),
            unsupported(opt("miniops", Long, "min iops"), "IOPS limits are not available yet"),
            unsupported(opt("maxiops", Long, "max iops"), "IOPS limits are not available yet"),
        ],
        types::VolumeResponse::FIELDS), "Volume"),
    asynch(cmd("attachVolume", "Attaches a disk volume to a virtual machine.", AnyUser, O, "volume",
        params![
            req("id", Uuid, "the ID of the disk volume"),
            req("virtualmachineid", Uuid, "the ID of the virtual machine"),
            opt("deviceid", Long, "The ID of the device to map the volume to the guest OS. If no deviceID is informed, the next available deviceID will be chosen. When using a linux operating system and the hypervisor XenServer, the devices IDs will be mapped as follows:\n 0 maps to /dev/xvda;\n 1 maps to /dev/xvdb;\n 2 maps /dev/xvdc and so on.\nPlease refer to the docs of your hypervisor for the correct mapping of the deviceID and the actual logical disk structure."),
        ],
        types::VolumeResponse::FIELDS), "Volume"),
    asynch(cmd("detachVolume", "Detaches a disk volume from a virtual machine.", AnyUser, O, "volume",
        params![
            opt("id", Uuid, "the ID of the disk volume"),
            opt("deviceid", Long, "the device ID on the virtual machine where volume is detached from"),
            opt("virtualmachineid", Uuid, "the ID of the virtual machine where the volume is detached from"),
        ],
        types::VolumeResponse::FIELDS), "Volume"),
    asynch(cmd("resizeVolume", "Resizes a volume", AnyUser, O, "volume",
        params![
            req("id", Uuid, "the ID of the disk volume"),
            opt("size", Long, "New volume size in GB"),
            opt("diskofferingid", Uuid, "new disk offering id"),
            opt("shrinkok", Boolean, "Verify OK to Shrink"),
            unsupported(opt("miniops", Long, "New minimum number of IOPS"), "IOPS limits are not available yet"),
            unsupported(opt("maxiops", Long, "New maximum number of IOPS"), "IOPS limits are not available yet"),
        ],
        types::VolumeResponse::FIELDS), "Volume"),
    cmd("deleteVolume", "Deletes a detached disk volume.", AnyUser, S, "success",
        params![req("id", Uuid, "The ID of the disk volume")],
        SUCCESS),
    asynch(cmd("migrateVolume", "Migrate volume", AnyUser, O, "volume",
        params![
            req("volumeid", Uuid, "the ID of the volume"),
            req("storageid", Uuid, "destination storage pool ID to migrate the volume to"),
            opt("livemigrate", Boolean, "if the volume should be live migrated when it is attached to a running vm"),
            unsupported(opt("newdiskofferingid", Uuid, "The new disk offering ID that replaces the current one used by the volume."), "changing a volume's offering while migrating is not available yet"),
        ],
        types::VolumeResponse::FIELDS), "Volume"),
    cmd("listVolumes", "Lists all volumes.", AnyUser, L, "volume",
        list_params![
            opt("id", Uuid, "the ID of the disk volume"),
            uuids("ids", "the IDs of the volumes, mutually exclusive with id"),
            opt("name", String, "the name of the disk volume"),
            opt("type", String, "the type of disk volume"),
            opt("virtualmachineid", Uuid, "the ID of the virtual machine"),
            opt("zoneid", Uuid, "the ID of the availability zone"),
            opt("storageid", Uuid, "the ID of the storage pool, available to ROOT admin only"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
        ],
        types::VolumeResponse::FIELDS),
    // --- Volume snapshots (issue 16) ---
    asynch(cmd("createSnapshot", "Creates an instant snapshot of a volume.", AnyUser, O, "snapshot",
        params![
            req("volumeid", Uuid, "The ID of the disk volume"),
            len(opt("name", String, "the name of the snapshot"), 255),
            opt("policyid", Uuid, "policy id of the snapshot, if this is null, then use MANUAL_POLICY."),
            opt("quiescevm", Boolean, "quiesce vm if true"),
            opt("asyncbackup", Boolean, "asynchronous backup if true"),
            opt("locationtype", String, "Currently applicable only for managed storage. Valid location types: 'primary', 'secondary'. Default = 'primary'."),
            opt("account", String, "The account of the snapshot. The account parameter must be used with the domainId parameter."),
            opt("domainid", Uuid, "The domain ID of the snapshot. If used with the account parameter, specifies a domain for the account associated with the disk volume."),
            unsupported(opt("tags", Map, "Map of tags (key/value pairs)"), "tags given with createSnapshot are not applied yet: tag the snapshot with createTags (resourcetype=Snapshot)"),
        ],
        types::SnapshotResponse::FIELDS), "Snapshot"),
    cmd("listSnapshots", "Lists all available snapshots for the account.", AnyUser, L, "snapshot",
        list_params![
            opt("id", Uuid, "lists snapshot by snapshot ID"),
            uuids("ids", "the IDs of the snapshots, mutually exclusive with id"),
            opt("name", String, "lists snapshot by snapshot name"),
            opt("volumeid", Uuid, "the ID of the disk volume"),
            opt("snapshottype", String, "valid values are MANUAL or RECURRING."),
            opt("intervaltype", String, "valid values are HOURLY, DAILY, WEEKLY, and MONTHLY."),
            opt("zoneid", Uuid, "list snapshots by zone id"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
        ],
        types::SnapshotResponse::FIELDS),
    asynch(cmd("deleteSnapshot", "Deletes a snapshot of a disk volume.", AnyUser, S, "success",
        params![
            req("id", Uuid, "The ID of the snapshot"),
            unsupported(opt("zoneid", Uuid, "The ID of the zone for the snapshot"), "snapshots live in one zone: delete the snapshot"),
        ],
        SUCCESS), "Snapshot"),
    asynch(cmd("revertSnapshot", "This is supposed to revert a volume snapshot. This command is only supported with KVM so far", AnyUser, O, "snapshot",
        params![req("id", Uuid, "The ID of the snapshot")],
        types::SnapshotResponse::FIELDS), "Snapshot"),
    cmd("createSnapshotPolicy", "Creates a snapshot policy for the account.", AnyUser, O, "snapshotpolicy",
        params![
            req("volumeid", Uuid, "the ID of the disk volume"),
            req("intervaltype", String, "valid values are HOURLY, DAILY, WEEKLY, and MONTHLY"),
            len(req("schedule", String, "time the snapshot is scheduled to be taken. Format is: * if HOURLY, MM* if DAILY, MM:HH* if WEEKLY, MM:HH:DD (1-7)* if MONTHLY, MM:HH:DD (1-28)"), 16),
            len(req("timezone", String, "Specifies a timezone for this command. For more information on the timezone parameter, see Time Zone Format."), 64),
            req("maxsnaps", Integer, "maximum number of snapshots to retain"),
            opt("fordisplay", Boolean, "an optional field, whether to the display the policy to the end user or not"),
            unsupported(opt("tags", Map, "Map of tags (key/value pairs)"), "tags on snapshot policies are not available yet"),
            unsupported(opt("zoneids", List, "A list of IDs of the zones in which the snapshot will be made available."), "snapshots stay in their volume's zone"),
        ],
        types::SnapshotPolicyResponse::FIELDS),
    cmd("listSnapshotPolicies", "Lists snapshot policies.", AnyUser, L, "snapshotpolicy",
        list_params![
            opt("volumeid", Uuid, "the ID of the disk volume"),
            opt("id", Uuid, "the ID of the snapshot policy"),
            opt("fordisplay", Boolean, "list resources by display flag; only ROOT admin is eligible to pass this parameter"),
        ],
        types::SnapshotPolicyResponse::FIELDS),
    cmd("updateSnapshotPolicy", "Updates the snapshot policy.", AnyUser, O, "snapshotpolicy",
        params![
            req("id", Uuid, "the ID of the snapshot policy"),
            opt("fordisplay", Boolean, "an optional field, whether to the display the snapshot policy to the end user or not."),
            opt("customid", String, "an optional field, in case you want to set a custom id to the resource. Allowed to Root Admins only"),
        ],
        types::SnapshotPolicyResponse::FIELDS),
    cmd("deleteSnapshotPolicies", "Deletes snapshot policies for the account.", AnyUser, S, "success",
        params![
            opt("id", Uuid, "the Id of the snapshot policy"),
            uuids("ids", "list of snapshots policy IDs separated by comma"),
        ],
        SUCCESS),
    // --- VM snapshots (issue 16) ---
    asynch(cmd("createVMSnapshot", "Creates snapshot for a vm.", AnyUser, O, "vmsnapshot",
        params![
            req("virtualmachineid", Uuid, "The ID of the vm"),
            opt("name", String, "The display name of the snapshot"),
            opt("description", String, "The description of the snapshot"),
            opt("snapshotmemory", Boolean, "snapshot memory if true"),
            unsupported(opt("quiescevm", Boolean, "quiesce vm if true"), "quiescing needs the QEMU guest agent, which Stratus does not give guests"),
        ],
        types::VmSnapshotResponse::FIELDS), "VMSnapshot"),
    cmd("listVMSnapshot", "List virtual machine snapshot by conditions", AnyUser, L, "vmSnapshot",
        list_params![
            opt("vmsnapshotid", Uuid, "The ID of the VM snapshot"),
            uuids("vmsnapshotids", "the IDs of the vm snapshots, mutually exclusive with vmsnapshotid"),
            opt("virtualmachineid", Uuid, "the ID of the vm"),
            opt("name", String, "lists snapshot by snapshot name or display name"),
            opt("state", String, "state of the virtual machine snapshot"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
        ],
        types::VmSnapshotResponse::FIELDS),
    asynch(cmd("revertToVMSnapshot", "Revert VM from a vmsnapshot.", AnyUser, O, "virtualmachine",
        params![req("vmsnapshotid", Uuid, "The ID of the vm snapshot")],
        types::VirtualMachineResponse::FIELDS), "VirtualMachine"),
    asynch(cmd("deleteVMSnapshot", "Deletes a vmsnapshot.", AnyUser, S, "success",
        params![req("vmsnapshotid", Uuid, "The ID of the VM snapshot")],
        SUCCESS), "VMSnapshot"),
    cmd("listCapacity", "Lists all the system wide capacities.", Admin, L, "capacity",
        params![
            PAGING[1], PAGING[2],
            opt("zoneid", Uuid, "lists capacity by the Zone ID"),
            unsupported(opt("podid", Uuid, "lists capacity by the Pod ID"), "capacity per pod is not available yet (per zone is)"),
            unsupported(opt("clusterid", Uuid, "lists capacity by the Cluster ID"), "capacity per cluster is not available yet (per zone is)"),
            opt("type", Integer, "lists capacity by type* CAPACITY_TYPE_MEMORY = 0* CAPACITY_TYPE_CPU = 1* CAPACITY_TYPE_STORAGE = 2* CAPACITY_TYPE_STORAGE_ALLOCATED = 3* CAPACITY_TYPE_VIRTUAL_NETWORK_PUBLIC_IP = 4* CAPACITY_TYPE_PRIVATE_IP = 5* CAPACITY_TYPE_SECONDARY_STORAGE = 6* CAPACITY_TYPE_VLAN = 7* CAPACITY_TYPE_DIRECT_ATTACHED_PUBLIC_IP = 8* CAPACITY_TYPE_LOCAL_STORAGE = 9* CAPACITY_TYPE_CPU_CORE = 90"),
            opt("fetchlatest", Boolean, "recalculate capacities and fetch the latest"),
            unsupported(PAGING[0], "keyword search is not available for capacities"),
            opt("sortby", String, "Sort the results. Available values: Usage"),
        ],
        types::CapacityResponse::FIELDS),
    // Basic zones have no public addresses or NAT rules; these answer empty lists so
    // clients that always ask (libcloud's list_nodes) work.
    cmd("listPublicIpAddresses", "Lists all public IP addresses", AnyUser, L, "publicipaddress",
        list_params![
            opt("id", Uuid, "lists IP address by ID"),
            opt("zoneid", Uuid, "lists all public IP addresses by zone ID"),
            opt("listall", Boolean, "list resources the caller is authorized to see"),
        ],
        &[]),
    cmd("listPortForwardingRules", "Lists all port forwarding rules for an IP address.", AnyUser, L, "portforwardingrule",
        list_params![opt("id", Uuid, "Lists rule with the specified ID."), opt("listall", Boolean, "list resources the caller is authorized to see")],
        &[]),
    cmd("listIpForwardingRules", "List the IP forwarding rules", AnyUser, L, "ipforwardingrule",
        list_params![opt("id", Uuid, "Lists rule with the specified ID."), opt("listall", Boolean, "list resources the caller is authorized to see")],
        &[]),
    // --- networks ---
    cmd("listNetworks", "Lists all available networks.", AnyUser, L, "network",
        list_params![
            opt("id", Uuid, "list networks by ID"),
            opt("zoneid", Uuid, "the zone ID of the network"),
            opt("name", String, "list networks by name"),
            opt("type", String, "the type of the network. Supported values are: isolated, l2, shared and all"),
            opt("traffictype", String, "type of the traffic"),
            opt("isdefault", Boolean, "true if network is default, false otherwise"),
            opt("issystem", Boolean, "true if network is system, false otherwise"),
            opt("canusefordeploy", Boolean, "list networks available for VM deployment"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
            unsupported(opt("vpcid", Uuid, "List networks by VPC"), "VPCs are not available"),
        ],
        types::NetworkResponse::FIELDS),
    cmd("listNetworkOfferings", "Lists all available network offerings.", AnyUser, L, "networkoffering",
        list_params![
            opt("id", Uuid, "list network offerings by ID"),
            opt("name", String, "list network offerings by name"),
            opt("displaytext", String, "list network offerings by display text"),
            opt("traffictype", String, "list by traffic type"),
            opt("isdefault", Boolean, "true if need to list only default network offerings. Default value is false"),
            opt("specifyvlan", Boolean, "the tags for the network offering."),
            opt("availability", String, "the availability of network offering. Default value is required"),
            opt("zoneid", Uuid, "list network offerings available for network creation in specific zone"),
            opt("state", String, "list network offerings by state"),
            opt("guestiptype", String, "list network offerings by guest type: shared or isolated"),
            opt("supportedservices", List, "list network offerings supporting certain services"),
            opt("sourcenatsupported", Boolean, "true if need to list only netwok offerings where source NAT is supported, false otherwise"),
            opt("specifyipranges", Boolean, "true if need to list only network offerings which support specifying ip ranges"),
            opt("forvpc", Boolean, "the network offering can be used only for network creation inside the VPC"),
            opt("networkid", Uuid, "the ID of the network. Pass this in if you want to see the available network offering that a network can be changed to."),
            opt("tags", String, "list network offerings by tags"),
        ],
        types::NetworkOfferingResponse::FIELDS),
    // --- what deployment tools ask first (projects, affinity groups: none yet) ---
    // --- projects (issue 22) ---
    since(cmd("listProjects", "Lists projects and provides detailed information for listed projects", AnyUser, L, "project",
        list_params![
            opt("id", Uuid, "list projects by project ID"),
            opt("name", String, "list projects by name"),
            opt("displaytext", String, "list projects by display text"),
            opt("state", String, "list projects by state"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("tags", Map, "List projects by tags (key/value pairs)"),
            opt("details", List, "comma separated list of project details requested, value can be a list of [ all, resource, min]"),
            unsupported(opt("showicon", Boolean, "flag to display the resource icon for projects"), "resource icons are not available yet"),
        ],
        types::ProjectResponse::FIELDS), "3.0.0"),
    since(asynch(cmd("createProject", "Creates a project", AnyUser, O, "project",
        params![
            opt("account", String, "account who will be Admin for the project"),
            unsupported(opt("userid", Uuid, "user ID of the account to be assigned as owner of the project i.e., Project Admin"), "user-level project membership is not available yet"),
            opt("domainid", Uuid, "domain ID of the account owning a project"),
            opt("accountid", Uuid, "ID of the account owning a project"),
            req("name", String, "name of the project"),
            req("displaytext", String, "display text of the project"),
        ],
        types::ProjectResponse::FIELDS), "Project"), "3.0.0"),
    since(asynch(cmd("updateProject", "Updates a project", AnyUser, O, "project",
        params![
            req("id", Uuid, "ID of the project to be modified"),
            opt("account", String, "New Admin Account for the project"),
            opt("displaytext", String, "Display text of the project"),
            opt("name", String, "Name of the project"),
            opt("roletype", String, "Account level role to be assigned to the User/Account : Admin/Regular"),
            opt("swapowner", Boolean, "When true, it swaps ownership with the Account/User provided. Ideally to be used when a single project administrator is present. In case of multiple project admins, swapowner is to be set to false,to promote or demote the user/account based on the roleType (Regular or Admin) provided. Defaults to true"),
            unsupported(opt("userid", Uuid, "ID of the User to be promoted/demoted"), "user-level project membership is not available yet"),
        ],
        types::ProjectResponse::FIELDS), "Project"), "3.0.0"),
    since(asynch(cmd("deleteProject", "Deletes a project", AnyUser, S, "success",
        params![
            req("id", Uuid, "ID of the project to be deleted"),
            opt("cleanup", Boolean, "True if all project resources have to be cleaned up, false otherwise"),
        ],
        SUCCESS), "Project"), "3.0.0"),
    since(asynch(cmd("activateProject", "Activates a project", AnyUser, O, "project",
        params![req("id", Uuid, "id of the project to be modified")],
        types::ProjectResponse::FIELDS), "Project"), "3.0.0"),
    since(asynch(cmd("suspendProject", "Suspends a project", AnyUser, O, "project",
        params![req("id", Uuid, "id of the project to be suspended")],
        types::ProjectResponse::FIELDS), "Project"), "3.0.0"),
    since(asynch(cmd("addAccountToProject", "Adds account to a project", AnyUser, S, "success",
        params![
            req("projectid", Uuid, "ID of the project to add the account to"),
            opt("account", String, "name of the account to be added to the project"),
            opt("email", String, "email to which invitation to the project is going to be sent"),
            unsupported(opt("projectroleid", Uuid, "ID of the project role"), "project roles are not available yet"),
            opt("roletype", String, "Project role type to be assigned to the User - Admin/Regular; default: Regular"),
        ],
        SUCCESS), "Project"), "3.0.0"),
    since(asynch(cmd("deleteAccountFromProject", "Deletes account from the project", AnyUser, S, "success",
        params![
            req("projectid", Uuid, "ID of the project to remove the account from"),
            req("account", String, "name of the account to be removed from the project"),
        ],
        SUCCESS), "Project"), "3.0.0"),
    since(cmd("listProjectAccounts", "Lists project's accounts", AnyUser, L, "projectaccount",
        list_params![
            req("projectid", Uuid, "ID of the project"),
            opt("account", String, "list accounts of the project by account name"),
            opt("role", String, "list accounts of the project by role"),
            unsupported(opt("userid", Uuid, "list invitation by user ID"), "user-level project membership is not available yet"),
            unsupported(opt("projectroleid", Uuid, "list accounts of the project by project role id"), "project roles are not available yet"),
        ],
        types::ProjectAccountResponse::FIELDS), "3.0.0"),
    since(cmd("listProjectInvitations", "Lists project invitations and provides detailed information for listed invitations", AnyUser, L, "projectinvitation",
        list_params![
            opt("id", Uuid, "list invitations by id"),
            opt("projectid", Uuid, "list by project id"),
            opt("activeonly", Boolean, "if true, list only active invitations - having Pending state and ones that are not timed out yet"),
            opt("state", String, "list invitations by state"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            unsupported(opt("userid", Uuid, "list invitation by user ID"), "user-level project membership is not available yet"),
        ],
        types::ProjectInvitationResponse::FIELDS), "3.0.0"),
    since(asynch(cmd("updateProjectInvitation", "Accepts or declines project invitation", AnyUser, S, "success",
        params![
            req("projectid", Uuid, "id of the project to join"),
            opt("account", String, "account that is joining the project"),
            opt("token", String, "list invitations for specified account; this parameter has to be specified with domainId"),
            opt("accept", Boolean, "if true, accept the invitation, decline if false. True by default"),
            unsupported(opt("userid", Uuid, "User UUID, required for adding account from external provisioning system"), "user-level project membership is not available yet"),
        ],
        SUCCESS), "Project"), "3.0.0"),
    since(asynch(cmd("deleteProjectInvitation", "Deletes project invitation", AnyUser, S, "success",
        params![req("id", Uuid, "id of the invitation")],
        SUCCESS), "Project"), "3.0.0"),
    cmd("listAffinityGroups", "Lists affinity groups (Stratus has no affinity groups yet: always empty)", AnyUser, L, "affinitygroup",
        list_params![
            opt("id", Uuid, "list the affinity group by the ID provided"),
            opt("name", String, "lists affinity groups by name"),
            opt("type", String, "lists affinity groups by type"),
            opt("virtualmachineid", Uuid, "lists affinity groups by virtual machine ID"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("projectid", Uuid, "list objects by project"),
        ],
        types::AffinityGroupResponse::FIELDS),
    cmd("listAffinityGroupTypes", "Lists affinity group types available (none in Stratus yet)", AnyUser, L, "affinityGroupType",
        list_params![], types::AffinityGroupTypeResponse::FIELDS),
    // --- resource limits ---
    cmd("listResourceLimits", "Lists resource limits.", AnyUser, L, "resourcelimit",
        list_params![
            unsupported(opt("id", Integer, "Lists resource limits by ID."), "resource limits have no ids of their own in Stratus; filter by account and resourcetype"),
            opt("resourcetype", Integer, "Type of resource. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11. 0 - Instance. 1 - IP. 2 - Volume. 3 - Snapshot. 4 - Template. 5 - Project. 6 - Network. 7 - VPC. 8 - CPU. 9 - Memory. 10 - PrimaryStorage. 11 - SecondaryStorage."),
            opt("resourcetypename", String, "Type of resource (wins over resourceType if both are provided). Values are: user_vm, public_ip, volume, snapshot, template, project, network, vpc, cpu, memory, primary_storage, secondary_storage"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("projectid", Uuid, "list objects by project"),
            unsupported(opt("tag", String, "Tag for the resource type"), "tagged resource limits (host and storage tags) are not available yet"),
        ],
        types::ResourceLimitResponse::FIELDS),
    cmd("updateResourceLimit", "Updates resource limits for an account or domain.", DomainAdmin, O, "resourcelimit",
        params![
            req("resourcetype", Integer, "Type of resource to update. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11. 0 - Instance. 1 - IP. 2 - Volume. 3 - Snapshot. 4 - Template. 5 - Project. 6 - Network. 7 - VPC. 8 - CPU. 9 - Memory. 10 - PrimaryStorage. 11 - SecondaryStorage."),
            opt("max", Long, "Maximum resource limit (-1 for unlimited; GiB for storage, MiB for memory)."),
            opt("account", String, "Update resource for a specified account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "Update resource limits for all accounts in specified domain. If used with the account parameter, updates resource limits for a specified account in specified domain."),
            opt("projectid", Uuid, "Update resource limits for project"),
            unsupported(opt("tag", String, "Tag for the resource type"), "tagged resource limits (host and storage tags) are not available yet"),
        ],
        types::ResourceLimitResponse::FIELDS),
    cmd("updateResourceCount", "Recalculate and update resource count for an account or domain. Stratus computes counts from the resources themselves, so this answers the counts as they are.", DomainAdmin, L, "resourcecount",
        params![
            req("domainid", Uuid, "If account parameter specified then updates resource counts for a specified account in this domain else update resource counts for all accounts & child domains in specified domain."),
            opt("account", String, "Update resource count for a specified account. Must be used with the domainId parameter."),
            opt("resourcetype", Integer, "Type of resource to update. If specifies valid values are 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 11. If not specified will update all resource counts"),
            opt("projectid", Uuid, "Update resource limits for project"),
            unsupported(opt("tag", String, "Tag for the resource type"), "tagged resource limits (host and storage tags) are not available yet"),
        ],
        types::ResourceCountResponse::FIELDS),
    // --- resource tags ---
    since(asynch(cmd("createTags", "Creates resource tag(s)", AnyUser, S, "success",
        params![
            req("resourcetype", String, "type of the resource: UserVm, Volume, ISO, Template, Network, Project, Account or User"),
            len(req("resourceids", List, "list of resources to create the tags for"), 65535),
            req("tags", Map, "Map of tags (key/value pairs)"),
            opt("customer", String, "identifies client specific tag. When the value is not null, the tag can't be used by cloudStack code internally"),
        ],
        SUCCESS), "None"), "4.0.0"),
    since(asynch(cmd("deleteTags", "Deleting resource tag(s)", AnyUser, S, "success",
        params![
            req("resourcetype", String, "Delete tag by resource type"),
            len(req("resourceids", List, "Delete tags for resource id(s)"), 65535),
            opt("tags", Map, "Delete tags matching key/value pairs"),
        ],
        SUCCESS), "None"), "4.0.0"),
    since(cmd("listTags", "List resource tag(s)", AnyUser, L, "tag",
        list_params![
            opt("resourcetype", String, "list by resource type"),
            opt("resourceid", Uuid, "list by resource id"),
            opt("key", String, "list by key"),
            opt("value", String, "list by value"),
            opt("customer", String, "list by customer name"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("projectid", Uuid, "list objects by project"),
        ],
        types::ResourceTagResponse::FIELDS), "4.0.0"),
    // --- storage ---
    cmd("createStoragePool", "Creates a storage pool.", Admin, O, "storagepool",
        params![
            len(req("name", String, "the name for the storage pool"), 255),
            req("url", String, "the URL of the storage pool (nfs://server/path)"),
            req("zoneid", Uuid, "the Zone ID for the storage pool"),
            opt("podid", Uuid, "the Pod ID for the storage pool"),
            opt("clusterid", Uuid, "the cluster ID for the storage pool"),
            opt("scope", String, "the scope of the storage: cluster or zone"),
            opt("tags", String, "the tags for the storage pool"),
            unsupported(opt("istagarule", Boolean, "Whether the informed tag is a JS interpretable rule or not."), TAG_RULES),
            opt("hypervisor", String, "hypervisor type of the hosts in zone that will be attached to this storage pool. KVM only"),
            opt("provider", String, "the storage provider name"),
            opt("capacitybytes", Long, "bytes CloudStack can provision from this storage pool"),
            unsupported(opt("managed", Boolean, "whether the storage should be managed by CloudStack"), "managed storage is not available"),
            unsupported(opt("details", Map, "the details for the storage pool"), NO_DETAILS),
        ],
        types::StoragePoolResponse::FIELDS),
    cmd("listStoragePools", "Lists storage pools.", Admin, L, "storagepool",
        list_params![
            opt("id", Uuid, "the ID of the storage pool"),
            opt("name", String, "the name of the storage pool"),
            opt("zoneid", Uuid, "the Zone ID for the storage pool"),
            opt("podid", Uuid, "the Pod ID for the storage pool"),
            opt("clusterid", Uuid, "list storage pools belongig to the specific cluster"),
            opt("ipaddress", String, "the IP address for the storage pool"),
            opt("path", String, "the storage pool path"),
            opt("scope", String, "the scope of the storage pool"),
            opt("status", String, "the status of the storage pool"),
        ],
        types::StoragePoolResponse::FIELDS),
    cmd("updateStoragePool", "Updates a storage pool.", Admin, O, "storagepool",
        params![
            req("id", Uuid, "the Id of the storage pool"),
            opt("name", String, "Change the name of the storage pool"),
            opt("tags", String, "comma-separated list of tags for the storage pool"),
            unsupported(opt("istagarule", Boolean, "Whether the informed tag is a JS interpretable rule or not."), TAG_RULES),
            opt("enabled", Boolean, "false to disable the pool for allocation of new volumes, true to enable it back."),
            opt("capacitybytes", Long, "bytes CloudStack can provision from this storage pool"),
        ],
        types::StoragePoolResponse::FIELDS),
    asynch(cmd("enableStorageMaintenance", "Puts storage pool into maintenance state", Admin, O, "storagepool",
        params![req("id", Uuid, "Primary storage ID")], types::StoragePoolResponse::FIELDS), "StoragePool"),
    asynch(cmd("cancelStorageMaintenance", "Cancels maintenance for primary storage", Admin, O, "storagepool",
        params![req("id", Uuid, "the primary storage ID")], types::StoragePoolResponse::FIELDS), "StoragePool"),
    cmd("deleteStoragePool", "Deletes a storage pool.", Admin, S, "success",
        params![
            req("id", Uuid, "Storage pool id"),
            unsupported(opt("forced", Boolean, "Force destroy storage pool (force expunge volumes in Destroyed state as a part of pool removal)"), "forced removal of a pool with volumes is not available yet"),
        ],
        SUCCESS),
    cmd("addImageStore", "Adds backup image store.", Admin, O, "imagestore",
        params![
            opt("name", String, "the name for the image store"),
            req("provider", String, "the image store provider name"),
            opt("url", String, "the URL for the image store"),
            opt("zoneid", Uuid, "the Zone ID for the image store"),
            unsupported(opt("details", Map, "the details for the image store"), NO_DETAILS),
        ],
        types::ImageStoreResponse::FIELDS),
    cmd("addSecondaryStorage", "Adds secondary storage.", Admin, O, "secondarystorage",
        params![
            req("url", String, "the URL for the secondary storage"),
            opt("zoneid", Uuid, "the Zone ID for the secondary storage"),
        ],
        types::ImageStoreResponse::FIELDS),
    cmd("listStorageTags", "Lists storage tags", Admin, L, "storagetag",
        list_params![], types::StorageTagResponse::FIELDS),
    since(cmd("listStorageProviders", "Lists storage providers.", Admin, L, "dataStoreProvider",
        list_params![req("type", String, "the type of storage provider: either primary or image")],
        types::StorageProviderResponse::FIELDS), "4.2.0"),
    cmd("listImageStores", "Lists image stores.", Admin, L, "imagestore",
        list_params![
            opt("id", Uuid, "the ID of the storage pool"),
            opt("name", String, "the name of the image store"),
            opt("zoneid", Uuid, "the Zone ID for the image store"),
            opt("protocol", String, "the image store protocol"),
            opt("provider", String, "the image store provider"),
        ],
        types::ImageStoreResponse::FIELDS),
    cmd("deleteImageStore", "Deletes an image store or Secondary Storage.", Admin, S, "success",
        params![req("id", Uuid, "the image store ID or Secondary Storage ID")], SUCCESS),
    cmd("registerIso", "Registers an existing ISO into the CloudStack Cloud.", AnyUser, OL, "iso",
        params![
            len(req("name", String, "the name of the ISO"), 255),
            req("url", String, "the URL to where the ISO is currently being hosted"),
            req("zoneid", String, "the ID of the zone you wish to register the ISO to (-1 for all zones)"),
            len(opt("displaytext", String, "the display text of the ISO, defaults to the 'name'"), 4096),
            opt("bootable", Boolean, "true if this ISO is bootable. If not passed explicitly its assumed to be true"),
            opt("ostypeid", Uuid, "the ID of the OS type that best represents the OS of this ISO. If the ISO is bootable this parameter needs to be passed"),
            opt("checksum", String, "the checksum value of this ISO. The parameter containing the checksum will be considered a MD5sum if it is not prefixed and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to use another algorithm the hexadecimal string is to be prefixed with a string of the form, \"{<algorithm>}\", not including the double quotes. In this <algorithm> is the exact string representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not contain an algorithm called SHA256 or one called sha-256, only SHA-256."),
            opt("ispublic", Boolean, "true if you want to register the ISO to be publicly available to all users, false otherwise."),
            opt("isfeatured", Boolean, "true if you want this ISO to be featured"),
            opt("isextractable", Boolean, "true if the ISO or its derivatives are extractable; default is false"),
            unsupported(opt("account", String, "an optional account name. Must be used with domainId."), OTHER_ACCOUNT),
            unsupported(opt("domainid", Uuid, "an optional domainId. If the account parameter is used, domainId must also be used."), OTHER_ACCOUNT),
            opt("projectid", Uuid, "Register ISO for the project"),
            unsupported(opt("directdownload", Boolean, "Active only for KVM hypervisor. If true, ISO is directly downloaded to primary storage bypassing secondary storage"), "direct download is not available yet"),
        ],
        types::IsoResponse::FIELDS),
    cmd("listIsos", "Lists all available ISO files.", AnyUser, L, "iso",
        list_params![
            opt("id", Uuid, "list ISO by ID"),
            opt("name", String, "list all ISOs by name"),
            opt("zoneid", Uuid, "the ID of the zone"),
            opt("isofilter", String, "possible values are \"featured\", \"self\", \"selfexecutable\",\"sharedexecutable\",\"executable\", and \"community\"."),
            opt("bootable", Boolean, "true if the ISO is bootable, false otherwise"),
            opt("ispublic", Boolean, "true if the ISO is publicly available to all users, false otherwise."),
            opt("isready", Boolean, "true if this ISO is ready to be deployed"),
            unsupported(opt("showremoved", Boolean, "show removed ISOs as well"), "listing removed ISOs is not available"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::IsoResponse::FIELDS),
    cmd("updateIso", "Updates an ISO file.", AnyUser, O, "iso",
        params![
            req("id", Uuid, "the ID of the image file"),
            opt("name", String, "the name of the image file"),
            opt("displaytext", String, "the display text of the image"),
            opt("bootable", Boolean, "true if image is bootable, false otherwise"),
            opt("ostypeid", Uuid, "the ID of the OS type that best represents the OS of this image."),
            opt("isfeatured", Boolean, "true if the image is featured"),
            opt("ispublic", Boolean, "true if the image is public"),
            opt("isextractable", Boolean, "true if the image is extractable"),
        ],
        types::IsoResponse::FIELDS),
    asynch(cmd("deleteIso", "Deletes an ISO file.", AnyUser, S, "success",
        params![
            req("id", Uuid, "the ID of the ISO file"),
            opt("zoneid", Uuid, "the ID of the zone of the ISO file. If not specified, the ISO will be deleted from all the zones"),
        ],
        SUCCESS), "Iso"),
    // --- templates ---
    cmd("registerTemplate", "Registers an existing template into the CloudStack cloud. ", AnyUser, OL, "template",
        params![
            len(req("name", String, "the name of the template"), 255),
            len(opt("displaytext", String, "The display text of the template, defaults to 'name'."), 4096),
            req("format", String, "the format for the template. Possible values include QCOW2 and RAW (KVM)."),
            req("hypervisor", String, "the target hypervisor for the template (KVM)"),
            req("url", String, "the URL of where the template is hosted. Possible URL include http:// and https://"),
            opt("zoneid", String, "the ID of the zone the template is to be hosted on (-1 for all zones with secondary storage)"),
            opt("zoneids", List, "A list of zone ids where the template will be hosted; -1 alone for all zones"),
            opt("ostypeid", Uuid, "the ID of the OS Type that best represents the OS of this template (required for KVM)"),
            opt("checksum", String, "the checksum value of this template. The parameter containing the checksum will be considered a MD5sum if it is not prefixed and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to use another algorithm the hexadecimal string is to be prefixed with a string of the form, \"{<algorithm>}\", not including the double quotes. In this <algorithm> is the exact string representing the java supported algorithm, i.e. MD5 or SHA-256."),
            opt("ispublic", Boolean, "true if the template is available to all accounts; default is false"),
            opt("isfeatured", Boolean, "true if this template is a featured template, false otherwise"),
            opt("isextractable", Boolean, "true if the template or its derivatives are extractable; default is false"),
            opt("passwordenabled", Boolean, "true if the template supports the password reset feature; default is false"),
            opt("sshkeyenabled", Boolean, "true if the template supports the sshkey upload feature; default is false"),
            opt("requireshvm", Boolean, "true if this template requires HVM"),
            opt("isdynamicallyscalable", Boolean, "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"),
            opt("bits", Integer, "32 or 64 bits support. 64 by default"),
            opt("details", Map, "Template details in key/value pairs using format details[i].keyname=keyvalue. Example: details[0].hypervisortoolsversion=xenserver61"),
            unsupported(opt("templatetag", String, "the tag for this template."), "template tags are not available yet"),
            opt("account", String, "an optional accountName. Must be used with domainId."),
            opt("domainid", Uuid, "an optional domainId. If the account parameter is used, domainId must also be used."),
            opt("projectid", Uuid, "Register template for the project"),
            opt("directdownload", Boolean, "true if template should bypass Secondary Storage and be downloaded to Primary Storage on deployment (not supported)"),
        ],
        types::TemplateResponse::FIELDS),
    cmd("listTemplates", "List all public, private, and privileged templates.", AnyUser, L, "template",
        list_params![
            req("templatefilter", String, "possible values are \"featured\", \"self\", \"selfexecutable\",\"sharedexecutable\",\"executable\",\"community\" and \"all\". * featured : templates that have been marked as featured and public. * self : templates that have been registered or created by the calling user. * selfexecutable : same as self, but only returns templates that can be used to deploy a new VM. * sharedexecutable : templates ready to be deployed that have been granted to the calling user by another user. * executable : templates that are owned by the calling user, or public templates, that can be used to deploy a VM. * community : templates that have been marked as public but not featured. * all : all templates (only usable by admins)."),
            opt("id", Uuid, "the template ID"),
            uuids("ids", "the IDs of the templates, mutually exclusive with id"),
            opt("name", String, "the template name"),
            opt("zoneid", Uuid, "list templates by zoneId"),
            opt("hypervisor", String, "the hypervisor for which to restrict the search"),
            opt("showremoved", Boolean, "show removed templates as well (not supported: removed templates are not listed)"),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("tags", Map, "List resources by tags (key/value pairs)"),
        ],
        types::TemplateResponse::FIELDS),
    cmd("updateTemplate", "Updates attributes of a template.", AnyUser, O, "template",
        params![
            req("id", Uuid, "the ID of the image file"),
            len(opt("name", String, "the name of the image file"), 251),
            len(opt("displaytext", String, "the display text of the image"), 4096),
            opt("ostypeid", Uuid, "the ID of the OS type that best represents the OS of this image."),
            opt("format", String, "the format for the image"),
            opt("passwordenabled", Boolean, "true if the image supports the password reset feature; default is false"),
            opt("sshkeyenabled", Boolean, "true if the template supports the sshkey upload feature; default is false"),
            opt("requireshvm", Boolean, "true if the template requires HVM, false otherwise"),
            opt("isdynamicallyscalable", Boolean, "true if template/ISO contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"),
            opt("bootable", Boolean, "true if image is bootable, false otherwise; available only for updateIso API"),
            opt("sortkey", Integer, "sort key of the template, integer"),
            opt("details", Map, "Details in key/value pairs using format details[i].keyname=keyvalue."),
            opt("cleanupdetails", Boolean, "optional boolean field, which indicates if details should be cleaned up or not"),
        ],
        types::TemplateResponse::FIELDS),
    asynch(cmd("deleteTemplate", "Deletes a template from the system. All virtual machines using the deleted template will not be affected.", AnyUser, S, "success",
        params![
            req("id", Uuid, "the ID of the template"),
            opt("zoneid", Uuid, "the ID of zone of the template"),
            opt("forced", Boolean, "Force delete a template."),
        ],
        SUCCESS), "Template"),
    asynch(cmd("copyTemplate", "Copies a template from one zone to another.", AnyUser, O, "template",
        params![
            req("id", Uuid, "Template ID."),
            opt("destzoneid", Uuid, "ID of the zone the template is being copied to."),
            uuids("destzoneids", "A list of IDs of the zones that the template needs to be copied to."),
            opt("sourcezoneid", Uuid, "ID of the zone the template is currently hosted on."),
        ],
        types::TemplateResponse::FIELDS), "Template"),
    asynch(cmd("createTemplate", "Creates a template of a virtual machine. The virtual machine must be in a STOPPED state. A template created from this command is automatically designated as a private template visible to the account that created it.", AnyUser, O, "template",
        params![
            len(req("name", String, "the name of the template"), 255),
            len(opt("displaytext", String, "The display text of the template, defaults to the 'name'."), 4096),
            req("ostypeid", Uuid, "the ID of the OS Type that best represents the OS of this template."),
            opt("volumeid", Uuid, "the ID of the disk volume the template is being created from. Either this parameter, or snapshotId has to be passed in"),
            opt("virtualmachineid", Uuid, "the ID of a stopped VM whose root volume the template is created from (when volumeid is not given)"),
            opt("snapshotid", Uuid, "the ID of the snapshot the template is being created from. Either this parameter, or volumeId has to be passed in"),
            unsupported(opt("url", String, "Optional, only for baremetal hypervisor. The directory name where template stored on CIFS server"), "templates from a URL are registered with registerTemplate"),
            opt("zoneid", Uuid, "the zone for the template; it must be the volume's zone"),
            opt("ispublic", Boolean, "true if this template is a public template, false otherwise"),
            opt("isfeatured", Boolean, "true if this template is a featured template, false otherwise"),
            opt("passwordenabled", Boolean, "true if the template supports the password reset feature; default is false"),
            opt("sshkeyenabled", Boolean, "true if the template supports the sshkey upload feature; default is false"),
            opt("requireshvm", Boolean, "true if the template requires HVM, false otherwise"),
            opt("isdynamicallyscalable", Boolean, "true if template contains XS/VMWare tools inorder to support dynamic scaling of VM cpu/memory"),
            opt("bits", Integer, "32 or 64 bit"),
            opt("details", Map, "Template details in key/value pairs using format details[i].keyname=keyvalue."),
            unsupported(opt("templatetag", String, "the tag for this template."), "template tags are not available yet"),
            opt("projectid", Uuid, "create template for the project"),
        ],
        types::TemplateResponse::FIELDS), "Template"),
    cmd("listTemplatePermissions", "List template visibility and all accounts that have permissions to view this template.", AnyUser, O, "templatepermission",
        params![req("id", Uuid, "the template ID")],
        types::TemplatePermissionsResponse::FIELDS),
    cmd("updateTemplatePermissions", "Updates a template visibility permissions. A public template is visible to all accounts within the same domain. A private template is visible only to the owner of the template. A privileged template is a private template with account permissions added. Only accounts specified under the template permissions are visible to them.", AnyUser, S, "success",
        params![
            req("id", Uuid, "the template ID"),
            opt("accounts", List, "a comma delimited list of accounts within caller's domain. If specified, \"op\" parameter has to be passed in."),
            opt("projectids", List, "a comma delimited list of projects. If specified, \"op\" parameter has to be passed in."),
            opt("op", String, "permission operator (add, remove, reset)"),
            opt("isfeatured", Boolean, "true for featured template/iso, false otherwise"),
            opt("ispublic", Boolean, "true for public template/iso, false for private templates/isos"),
            opt("isextractable", Boolean, "true if the template/iso is extractable, false other wise. Can be set only by root admin"),
        ],
        SUCCESS),
    cmd("listIsoPermissions", "List ISO visibility and all accounts that have permissions to view this ISO.", AnyUser, O, "templatepermission",
        params![req("id", Uuid, "the template ID")],
        types::TemplatePermissionsResponse::FIELDS),
    cmd("updateIsoPermissions", "Updates ISO permissions", AnyUser, S, "success",
        params![
            req("id", Uuid, "the template ID"),
            opt("accounts", List, "a comma delimited list of accounts within caller's domain. If specified, \"op\" parameter has to be passed in."),
            opt("projectids", List, "a comma delimited list of projects. If specified, \"op\" parameter has to be passed in."),
            opt("op", String, "permission operator (add, remove, reset)"),
            opt("isfeatured", Boolean, "true for featured template/iso, false otherwise"),
            opt("ispublic", Boolean, "true for public template/iso, false for private templates/isos"),
            opt("isextractable", Boolean, "true if the template/iso is extractable, false other wise. Can be set only by root admin"),
        ],
        SUCCESS),
    cmd("listOsTypes", "Lists all supported OS types for this cloud.", AnyUser, L, "ostype",
        list_params![
            opt("id", Uuid, "list by Os type Id"),
            opt("oscategoryid", Uuid, "list by Os Category id"),
            opt("description", String, "list os by description"),
        ],
        types::OsTypeResponse::FIELDS),
    cmd("listOsCategories", "Lists all supported OS categories for this cloud.", AnyUser, L, "oscategory",
        list_params![
            opt("id", Uuid, "list Os category by id"),
            opt("name", String, "list os category by name"),
        ],
        types::OsCategoryResponse::FIELDS),
    cmd("listAlerts", "Lists all alerts.", Admin, L, "alert",
        list_params![
            opt("id", Uuid, "the ID of the alert"),
            opt("type", String, "list by alert type"),
            opt("name", String, "list by alert name"),
        ],
        types::AlertResponse::FIELDS),
    // --- console ---
    since(cmd("createConsoleEndpoint", "Create a console endpoint to connect to a VM console", AnyUser, O, "consoleendpoint",
        params![
            req("virtualmachineid", Uuid, "ID of the VM"),
            opt("token", String, "(optional) extra security token, valid when the extra validation is enabled"),
        ],
        types::ConsoleEndpointResponse::FIELDS), "4.18.0"),
    // --- configuration ---
    cmd("listConfigurations", "Lists all configurations.", Admin, L, "configuration",
        list_params![
            opt("category", String, "lists configurations by category"),
            opt("name", String, "lists configuration by name"),
            opt("zoneid", Uuid, "the ID of the Zone to update the parameter value for corresponding zone"),
            opt("clusterid", Uuid, "the ID of the Cluster to update the parameter value for corresponding cluster"),
            opt("storageid", Uuid, "the ID of the Storage pool to update the parameter value for corresponding storage pool"),
            opt("accountid", Uuid, "the ID of the Account to update the parameter value for corresponding account"),
            opt("domainid", Uuid, "the ID of the Domain to update the parameter value for corresponding domain"),
        ],
        types::ConfigurationResponse::FIELDS),
    cmd("updateConfiguration", "Updates a configuration.", Admin, O, "configuration",
        params![
            req("name", String, "the name of the configuration"),
            len(opt("value", String, "the value of the configuration"), 4096),
            opt("zoneid", Uuid, "the ID of the Zone to update the parameter value for corresponding zone"),
            opt("clusterid", Uuid, "the ID of the Cluster to update the parameter value for corresponding cluster"),
            opt("storageid", Uuid, "the ID of the Storage pool to update the parameter value for corresponding storage pool"),
            opt("accountid", Uuid, "the ID of the Account to update the parameter value for corresponding account"),
            opt("domainid", Uuid, "the ID of the Domain to update the parameter value for corresponding domain"),
        ],
        types::ConfigurationResponse::FIELDS),
    since(cmd("resetConfiguration", "Resets a configuration. The configuration will be set to default value for global setting, and removed from account_details or domain_details for Account/Domain settings", Admin, O, "configuration",
        params![
            req("name", String, "the name of the configuration"),
            opt("zoneid", Uuid, "the ID of the Zone to reset the parameter value for corresponding zone"),
            opt("clusterid", Uuid, "the ID of the Cluster to reset the parameter value for corresponding cluster"),
            opt("storageid", Uuid, "the ID of the Storage pool to reset the parameter value for corresponding storage pool"),
            opt("accountid", Uuid, "the ID of the Account to reset the parameter value for corresponding account"),
            opt("domainid", Uuid, "the ID of the Domain to reset the parameter value for corresponding domain"),
        ],
        types::ConfigurationResponse::FIELDS), "4.16.0"),
    // --- jobs and events ---
    cmd("queryAsyncJobResult", "Retrieves the current status of asynchronous job.", AnyUser, O, "asyncjobs",
        params![req("jobid", Uuid, "the ID of the asynchronous job")], types::AsyncJobResponse::FIELDS),
    cmd("listAsyncJobs", "Lists all pending asynchronous jobs for the account.", AnyUser, L, "asyncjobs",
        list_params![
            opt("startdate", Date, "The start date of the async job (use format \"yyyy-MM-dd'T'HH:mm:ss'+'SSSS\")"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::AsyncJobResponse::FIELDS),
    cmd("listEvents", "A command to list events.", AnyUser, L, "event",
        list_params![
            opt("id", Uuid, "the ID of the event"),
            opt("type", String, "the event type (see event types)"),
            opt("level", String, "the event level (INFO, WARN, ERROR)"),
            opt("startdate", Date, "the start date range of the list you want to retrieve (use format \"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"),
            opt("enddate", Date, "the end date range of the list you want to retrieve (use format \"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"),
            opt("resourceid", Uuid, "the ID of the resource associated with the event"),
            opt("resourcetype", String, "the type of the resource associated with the event"),
            unsupported(opt("startid", Uuid, "the parent/start ID of the event, when provided this will list all the events with the start/parent ID including the parent event"), "events have no start/parent events yet"),
            opt("projectid", Uuid, "list objects by project; if projectid=-1 lists All VMs"),
            opt("account", String, "list resources by account. Must be used with the domainId parameter."),
            opt("domainid", Uuid, "list only resources belonging to the domain specified"),
            opt("isrecursive", Boolean, "defaults to false, but if true, lists all resources from the parent specified by the domainId till leaves."),
            opt("listall", Boolean, "If set to false, list only resources belonging to the command's caller; if set to true - list resources that the caller is authorized to see. Default value is false"),
        ],
        types::EventResponse::FIELDS),
];

/// Looks a command up by its exact (case-sensitive) name, as CloudStack does.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookup_is_case_sensitive() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(find("listZones").is_some());
        assert!(find("listzones").is_none());
    }

    #[test]
    fn params_are_unique_per_command_and_async_ones_name_an_instance_type() {
        for c in COMMANDS {
            let mut p: Vec<&str> = c.params.iter().map(|p| p.name).collect();
            p.sort();
            let n = p.len();
            p.dedup();
            assert_eq!(n, p.len(), "{} repeats a parameter", c.name);
            assert_eq!(c.is_async(), c.instance_type.is_some(), "{}", c.name);
        }
    }
}
