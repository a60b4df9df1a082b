//! The operator's command line: `pbx serve` and the administration commands, all on the same
//! storage services the cabinet uses.

mod account;
mod audit;
mod billing;
mod calls;
mod contact;
mod group;
pub mod media;
mod output;
pub mod plugin;
pub mod scenario;
mod tenant;
mod trunk;
pub mod user;
mod webhook;

use crate::config::{Common, ServeArgs};
use clap::{Parser, Subcommand};
use pbx_store::Store;

/// A multi-tenant cloud PBX.
#[derive(Debug, Parser)]
#[command(name = "pbx", version, about = "A multi-tenant cloud PBX")]
pub struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the PBX (SIP, media, HTTP).
    Serve(Box<ServeArgs>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCmd),
    /// Manage a tenant's users (extensions).
    #[command(subcommand)]
    User(user::UserCmd),
    /// The call log.
    #[command(subcommand)]
    Calls(calls::CallsCmd),
    /// Manage carrier trunks (operator).
    #[command(subcommand)]
    Trunk(trunk::TrunkCmd),
    /// Manage a tenant's city numbers.
    #[command(subcommand)]
    Did(trunk::DidCmd),
    /// Greetings, announcements and music.
    #[command(subcommand)]
    Prompt(media::PromptCmd),
    /// Call recordings.
    #[command(subcommand)]
    Recordings(media::RecordingsCmd),
    /// City numbers' call-handling scenarios.
    #[command(subcommand)]
    Scenario(scenario::ScenarioCmd),
    /// A tenant's plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCmd),
    /// Ring groups.
    #[command(subcommand)]
    Group(group::GroupCmd),
    /// Call queues.
    #[command(subcommand)]
    Queue(group::QueueCmd),
    /// Operator accounts of the cabinet.
    #[command(subcommand)]
    Operator(account::OperatorCmd),
    /// API tokens for integrations.
    #[command(subcommand)]
    Token(account::TokenCmd),
    /// A tenant's phone book (names shown for callers' numbers).
    #[command(subcommand)]
    Contact(contact::ContactCmd),
    /// A tenant's outgoing webhooks (call events posted to a URL).
    #[command(subcommand)]
    Webhook(webhook::WebhookCmd),
    /// Prices of outbound calls by number prefix (operator).
    #[command(subcommand)]
    Tariff(billing::TariffCmd),
    /// A tenant's prepaid balance: top-ups, history, the low-balance warning.
    #[command(subcommand)]
    Balance(billing::BalanceCmd),
}

/// Runs a parsed command line; a command that changes something goes to the audit log.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let line: Vec<String> = std::env::args().skip(1).collect();
    let common = cli.common.clone();
    rt.block_on(async move {
        let result = dispatch(cli).await;
        if let Some(entry) = audit::of_command_line(&line, result.is_ok()) {
            audit::record(&common, entry).await;
        }
        result
    })
}

/// Runs one command.
async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    {
        match cli.command {
            Command::Serve(args) => crate::serve::run(cli.common, *args).await,
            Command::Tenant(cmd) => tenant::run(&open(&cli.common).await?, cmd).await,
            Command::User(cmd) => user::run(&open(&cli.common).await?, cmd).await,
            Command::Calls(cmd) => calls::run(&open(&cli.common).await?, cmd).await,
            Command::Trunk(cmd) => trunk::run_trunk(&open(&cli.common).await?, cmd).await,
            Command::Did(cmd) => trunk::run_did(&open(&cli.common).await?, cmd).await,
            Command::Prompt(cmd) => media::run_prompt(&open(&cli.common).await?, &cli.common.data_dir, cmd).await,
            Command::Recordings(cmd) => media::run_recordings(&open(&cli.common).await?, cmd).await,
            Command::Scenario(cmd) => scenario::run(&open(&cli.common).await?, cmd).await,
            Command::Plugin(cmd) => plugin::run(&open(&cli.common).await?, &cli.common.data_dir, cmd).await,
            Command::Group(cmd) => group::run_group(&open(&cli.common).await?, cmd).await,
            Command::Queue(cmd) => group::run_queue(&open(&cli.common).await?, cmd).await,
            Command::Operator(cmd) => account::run_operator(&open(&cli.common).await?, cmd).await,
            Command::Token(cmd) => account::run_token(&open(&cli.common).await?, cmd).await,
            Command::Contact(cmd) => contact::run(&open(&cli.common).await?, cmd).await,
            Command::Webhook(cmd) => webhook::run(&open(&cli.common).await?, cmd).await,
            Command::Tariff(cmd) => billing::run_tariff(&open(&cli.common).await?, cmd).await,
            Command::Balance(cmd) => billing::run_balance(&open(&cli.common).await?, cmd).await,
        }
    }
}

/// (year, month, day) in UTC of a time in ms since the epoch.
pub fn civil_date(ms: i64) -> (i64, u32, u32) {
    output::civil_from_days(ms.div_euclid(86_400_000))
}

async fn open(common: &Common) -> anyhow::Result<Store> {
    let url = common.database_url()?;
    Ok(Store::open(&url).await?)
}
