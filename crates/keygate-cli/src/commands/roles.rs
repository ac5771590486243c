//! `keygate roles …`

use std::process::ExitCode;

use keygate::role::Role;
use keygate::Actor;

use super::scopes;
use crate::cli::RolesCommand;
use crate::output::{table, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    cmd: RolesCommand,
) -> Result<ExitCode, Failure> {
    let manager = store.manager("sk", "live")?;
    match cmd {
        RolesCommand::Create(args) => {
            let mut role = Role::new(args.name, scopes(&args.scopes)?)?;
            role.description = args.description;
            let (role, _created) = manager.put_role(&Actor::system(), role).await?;
            out.show(&role, || {
                format!(
                    "role {} = {}",
                    role.name(),
                    role.scopes.to_strings().join(",")
                )
            });
        }
        RolesCommand::List => {
            let roles = manager.list_roles(&Actor::system()).await?;
            out.show(&roles, || {
                let rows: Vec<Vec<String>> = roles
                    .iter()
                    .map(|r| {
                        vec![
                            r.name().to_owned(),
                            r.scopes.to_strings().join(","),
                            r.description.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["ROLE", "SCOPES", "DESCRIPTION"], &rows)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
