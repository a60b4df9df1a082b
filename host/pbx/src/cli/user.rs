//! `pbx user ...`

use super::output;
use crate::company::check_target;
use clap::Subcommand;
use pbx_store::{NewUser, Role, Store};

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user (an extension with a SIP account).
    Create {
        /// Tenant slug.
        slug: String,
        /// Extension number (2-6 digits), also the SIP user name.
        ext: String,
        /// SIP password.
        #[arg(long)]
        password: String,
        /// Full name, shown as the caller name.
        #[arg(long, default_value = "")]
        name: String,
        /// Cabinet role.
        #[arg(long, default_value = "user", value_parser = ["user", "supervisor"])]
        role: String,
        /// Cabinet password (enables web login).
        #[arg(long)]
        web_password: Option<String>,
    },
    /// Change a user's name or cabinet role.
    Set {
        /// Tenant slug.
        slug: String,
        /// Extension.
        ext: String,
        /// Full name, shown as the caller name.
        #[arg(long)]
        name: Option<String>,
        /// Cabinet role.
        #[arg(long, value_parser = ["user", "supervisor"])]
        role: Option<String>,
    },
    /// Set a new SIP password (generated when not given; printed once: only its digest
    /// hashes are stored).
    SipPassword {
        /// Tenant slug.
        slug: String,
        /// Extension.
        ext: String,
        /// The new password (6 to 128 characters).
        #[arg(long)]
        password: Option<String>,
    },
    /// List a tenant's users.
    List {
        /// Tenant slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user.
    Delete {
        /// Tenant slug.
        slug: String,
        /// Extension.
        ext: String,
    },
    /// Set a user's call forwarding (rules not given stay as they are; --off clears all).
    Forward {
        /// Tenant slug.
        slug: String,
        /// Extension.
        ext: String,
        /// Forward every call to this extension or number.
        #[arg(long)]
        always: Option<String>,
        /// Forward when busy.
        #[arg(long)]
        busy: Option<String>,
        /// Forward when not answered within --after seconds.
        #[arg(long)]
        no_answer: Option<String>,
        /// Seconds before --no-answer applies.
        #[arg(long)]
        after: Option<i64>,
        /// Forward when no phone is registered or reachable.
        #[arg(long)]
        unreachable: Option<String>,
        /// Remove every rule.
        #[arg(long)]
        off: bool,
    },
}

/// Runs a user command.
pub async fn run(store: &Store, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Forward { slug, ext, always, busy, no_answer, after, unreachable, off } => {
            let t = store.tenant_by_slug(&slug).await?;
            let user = store.user_by_ext(t.id, &ext).await?;
            let mut exts: Vec<String> = store.list_users(t.id).await?.into_iter().map(|u| u.ext).collect();
            exts.extend(store.list_groups(Some(t.id)).await?.into_iter().map(|g| g.ext));
            let mut f = if off { pbx_store::Forwarding { no_answer_seconds: 20, ..Default::default() } } else { user.forwarding.clone() };
            let set = |v: Option<String>| -> anyhow::Result<Option<Option<String>>> {
                match v.as_deref() {
                    None => Ok(None),
                    Some("off") | Some("") => Ok(Some(None)),
                    Some(x) => Ok(Some(Some(check_target(&t, &exts, x)?))),
                }
            };
            if let Some(v) = set(always)? {
                f.always = v;
            }
            if let Some(v) = set(busy)? {
                f.busy = v;
            }
            if let Some(v) = set(no_answer)? {
                f.no_answer = v;
            }
            if let Some(v) = set(unreachable)? {
                f.unreachable = v;
            }
            if let Some(a) = after {
                f.no_answer_seconds = a;
            }
            store.set_forwarding(t.id, &ext, &f).await?;
            let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!(
                "forwarding of {ext}: always {}, busy {}, no answer {} after {} s, unreachable {}",
                show(&f.always),
                show(&f.busy),
                show(&f.no_answer),
                f.no_answer_seconds,
                show(&f.unreachable)
            );
        }
        UserCmd::Create { slug, ext, password, name, role, web_password } => {
            let t = store.tenant_by_slug(&slug).await?;
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be user or supervisor"))?;
            let u = store
                .create_user(
                    t.id,
                    &NewUser { ext: &ext, sip_password: &password, name: &name, role, web_password: web_password.as_deref() },
                )
                .await?;
            println!("created user {} in {} (sip:{}@{})", u.ext, t.slug, u.ext, t.domain);
        }
        UserCmd::Set { slug, ext, name, role } => {
            let t = store.tenant_by_slug(&slug).await?;
            let role = role.as_deref().and_then(Role::parse);
            let u = store.update_user(t.id, &ext, name.as_deref(), role).await?;
            println!("{}: {} ({})", u.ext, u.name, u.role.as_str());
        }
        UserCmd::SipPassword { slug, ext, password } => {
            let t = store.tenant_by_slug(&slug).await?;
            let password = password.unwrap_or_else(pbx_store::accounts::new_sip_password);
            store.set_sip_password(t.id, &ext, &password).await?;
            println!("SIP password of {ext}@{}: {password}", t.domain);
        }
        UserCmd::List { slug, json } => {
            let t = store.tenant_by_slug(&slug).await?;
            let users = store.list_users(t.id).await?;
            output::print(json, &users, &["EXT", "NAME", "ROLE", "WEB LOGIN"], |u| {
                vec![u.ext.clone(), u.name.clone(), u.role.as_str().into(), if u.has_web_login { "yes" } else { "no" }.into()]
            })?;
        }
        UserCmd::Delete { slug, ext } => {
            let t = store.tenant_by_slug(&slug).await?;
            store.delete_user(t.id, &ext).await?;
            println!("deleted user {ext} from {slug}");
        }
    }
    Ok(())
}
