//! The task's roles: execution-role credentials for secrets and image pulls,
//! the task-role credentials (and metadata) endpoint served in the container.

use super::state::Engine;
use crate::failure::ResourceInitializationError;

impl Engine {
    /// The client for the task's secrets and registry auth: the execution
    /// role's when the task has one, else the agent's own.
    pub(super) fn secrets_api(&self) -> Option<&crate::client::ApiClient> {
        self.exec_api.as_ref().or(self.ctx.api.as_ref())
    }

    /// Gets the execution role's credentials (when the task has one) and
    /// registers the task role with the credentials endpoint (when the
    /// task has one). The error is the task's stop reason.
    pub(super) async fn prepare_roles(&mut self) -> Result<(), ResourceInitializationError> {
        if self.exec_api.is_none()
            && let Some(role) = self.task.execution_role_arn()
        {
            let Some(api) = self.ctx.api.as_ref() else {
                return Err(ResourceInitializationError::new(
                    "this agent has no control-plane client to assume the execution role",
                ));
            };
            let creds = crate::credentials::fetch(
                api,
                self.task.cluster(&self.ctx.cluster),
                &self.ctx.instance_arn,
                &self.task.task_arn,
                crate::credentials::RoleKind::Execution,
            )
            .await
            .map_err(|e| {
                ResourceInitializationError::new(format!("unable to assume the execution role {role}: {e}"))
            })?;
            self.exec_api = Some(api.with_credentials(creds.signing()));
        }
        if self.role_endpoint.is_none()
            && self.task.task_role_arn().is_some()
            && let Some(endpoint) = &self.ctx.credentials
        {
            self.role_endpoint = Some(endpoint.register(
                &self.task.task_arn,
                self.task.cluster(&self.ctx.cluster),
                &self.ctx.instance_arn,
            ));
        }
        Ok(())
    }

    /// Adopted containers carry the task role endpoint's id and token and
    /// the metadata ids of the agent run that created them: register them
    /// again, and serve the endpoint in their namespaces again.
    pub(super) async fn readopt_role_endpoint(&mut self) {
        let Some(endpoint) = self.ctx.credentials.clone() else {
            return;
        };
        let in_namespace = !crate::credentials::shares_host_network(self.task.task_definition.effective_network_mode());
        let adopted: Vec<(String, String)> = self
            .slots
            .iter()
            .filter_map(|s| Some((s.def.name().to_string(), s.id.clone()?)))
            .collect();
        for (name, id) in adopted {
            let Ok(Some(info)) = self.ctx.runtime.inspect(&id).await else {
                continue;
            };
            let env = info.config.and_then(|c| c.env).unwrap_or_default();
            let mut port = self.readopt_metadata(&name, &env);
            if self.task.task_role_arn().is_some()
                && let Some((id, token, role_port)) = crate::credentials::from_container_env(&env)
            {
                if self.role_endpoint.is_none() {
                    self.role_endpoint = endpoint.register_existing(
                        &self.task.task_arn,
                        self.task.cluster(&self.ctx.cluster),
                        &self.ctx.instance_arn,
                        &id,
                        &token,
                    );
                }
                port = Some(role_port);
            }
            let pid = info.state.filter(|s| s.running == Some(true)).and_then(|s| s.pid);
            if in_namespace && let (Some(pid), Some(port)) = (pid.filter(|p| *p > 0), port) {
                self.serve_in_container(&endpoint, pid, port).await;
            }
        }
    }

    /// Serves the credentials and metadata endpoint inside the network
    /// namespace of a container that just started (all network modes but
    /// host).
    pub(super) async fn serve_endpoint_after_start(&self, container_id: &str) {
        let Some(endpoint) = self.ctx.credentials.clone() else {
            return;
        };
        if crate::credentials::shares_host_network(self.task.task_definition.effective_network_mode()) {
            return;
        }
        let pid = match self.ctx.runtime.inspect(container_id).await {
            Ok(Some(info)) => info.state.and_then(|s| s.pid).filter(|p| *p > 0),
            _ => None,
        };
        match pid {
            Some(pid) => {
                self.serve_in_container(&endpoint, pid, endpoint.addr().port()).await;
            }
            None => {
                tracing::warn!(task = %self.arn(), container = container_id, "no process to serve the task's endpoints to")
            }
        }
    }

    pub(super) async fn serve_in_container(
        &self,
        endpoint: &crate::credentials::CredentialsEndpoint,
        pid: i64,
        port: u16,
    ) -> bool {
        match endpoint.serve_in_container(&self.task.task_arn, pid, port).await {
            Ok(()) => true,
            // awsvpc: the containers share the task's namespace, served
            // once already.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && self.is_awsvpc() => {
                tracing::debug!(task = %self.arn(), pid, "the task's endpoints are already served in the task's namespace");
                true
            }
            Err(e) => {
                tracing::warn!(task = %self.arn(), pid, error = %e, "cannot serve the task's credentials and metadata inside the container; it gets none");
                false
            }
        }
    }

    /// Registry auth with the execution role for an image of the Berth
    /// registry (the agent's own token is used for tasks without one).
    pub(super) async fn execution_role_registry_auth(
        &self,
        image: &str,
    ) -> Result<Option<bollard::auth::DockerCredentials>, ResourceInitializationError> {
        let Some(api) = &self.exec_api else { return Ok(None) };
        let Some(host) = crate::registry_auth::image_host(image) else {
            return Ok(None);
        };
        match crate::registry_auth::RegistryAuth::new(api.clone()).token().await {
            Ok(token) => Ok(token.credentials_for(image)),
            // Refused: fatal for an image of this server's registry.
            Err(e) if crate::registry_auth::endpoint_host(api.endpoint()) == host.to_ascii_lowercase() => Err(
                ResourceInitializationError::new(format!("unable to retrieve ecr registry auth: {e}")),
            ),
            Err(_) => Ok(None),
        }
    }
}
