//! `keygate roles …`: the same operations as `/v1/roles`, as the system actor (global
//! roles, or any tenant's with `--tenant`/`--env`).

use std::process::ExitCode;

use keygate::role::{Role, RoleNamespace};
use keygate::Actor;
use keygate_admin::dto::RoleView;

use super::scopes;
use crate::cli::{RoleArgs, RoleNamespaceArgs, RolesCommand};
use crate::output::{table, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    cmd: RolesCommand,
) -> Result<ExitCode, Failure> {
    let manager = store.manager("sk", "live")?;
    let system = Actor::system();
    match cmd {
        RolesCommand::Create(args) => {
            let role = manager.create_role(&system, role_of(args)?).await?;
            show(out, "created", &role);
        }
        RolesCommand::Update(args) => {
            let (role, created) = manager.put_role(&system, role_of(args)?).await?;
            show(out, if created { "created" } else { "updated" }, &role);
        }
        RolesCommand::Show(args) => {
            let namespace = namespace_of(&args.namespace)?;
            let role = manager
                .get_role(&system, namespace.as_ref(), &args.name)
                .await
                .map_err(|e| not_found_hint(e, &args.name, namespace.as_ref()))?;
            show(out, "role", &role);
        }
        RolesCommand::Delete(args) => {
            let namespace = namespace_of(&args.namespace)?;
            let role = manager
                .delete_role(&system, namespace.as_ref(), &args.name, args.force)
                .await
                .map_err(|e| match e.status() {
                    409 => Failure(format!("{e}; pass --force to delete it anyway")),
                    _ => not_found_hint(e, &args.name, namespace.as_ref()),
                })?;
            show(out, "deleted", &role);
        }
        RolesCommand::List(args) => {
            let mut roles = manager.list_roles(&system).await?;
            if let Some(tenant) = &args.tenant {
                roles.retain(|r| r.tenant().is_none_or(|t| t == tenant));
            }
            let views: Vec<RoleView> = roles.iter().map(RoleView::from).collect();
            out.show(&views, || {
                if views.is_empty() {
                    return "no roles found; create one with `keygate roles create NAME --scopes …`"
                        .to_owned();
                }
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.tenant.clone().unwrap_or_else(|| "(global)".to_owned()),
                            r.env.clone().unwrap_or_default(),
                            r.scopes.join(","),
                            r.description.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["ROLE", "TENANT", "ENV", "SCOPES", "DESCRIPTION"], &rows)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role_of(args: RoleArgs) -> Result<Role, Failure> {
    let mut role = Role::new(args.name, scopes(&args.scopes)?)?;
    role.description = args.description;
    Ok(role.with_namespace(namespace_of(&args.namespace)?))
}

fn namespace_of(args: &RoleNamespaceArgs) -> Result<Option<RoleNamespace>, Failure> {
    match (&args.tenant, &args.env) {
        (Some(tenant), Some(env)) => Ok(Some(RoleNamespace::new(tenant, env)?)),
        _ => Ok(None),
    }
}

fn not_found_hint(
    err: keygate::manager::ManageError,
    name: &str,
    namespace: Option<&RoleNamespace>,
) -> Failure {
    if err.status() != 404 {
        return err.into();
    }
    Failure(match namespace {
        Some(ns) => format!(
            "no role {name:?} in tenant {:?}, environment {:?} (nor a global one); \
             `keygate roles list` shows every role",
            ns.tenant(),
            ns.env()
        ),
        None => format!(
            "no global role {name:?}; a tenant's role needs --tenant and --env \
             (`keygate roles list` shows every role)"
        ),
    })
}

fn show(out: &Output, what: &str, role: &Role) {
    let view = RoleView::from(role);
    out.show(&view, || {
        let place = match (&view.tenant, &view.env) {
            (Some(tenant), Some(env)) => format!(" (tenant {tenant}, env {env})"),
            _ => " (global)".to_owned(),
        };
        format!(
            "{what} role {}{place} = {}",
            view.name,
            view.scopes.join(",")
        )
    });
}
