//! The federation actions of the user-pool door: identity providers, resource servers and
//! provider links, dispatched by action name after the pool's own actions.

use super::*;

impl UserPools {
    /// Runs one federation action, or refuses an action this door does not implement.
    pub(super) async fn dispatch_federation(
        &self,
        action: &str,
        body: &Value,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        match action {
            "CreateIdentityProvider" => self.create_identity_provider(input(body)?, call).await,
            "DescribeIdentityProvider" => self.describe_identity_provider(input(body)?, call).await,
            "UpdateIdentityProvider" => self.update_identity_provider(input(body)?, call).await,
            "DeleteIdentityProvider" => self.delete_identity_provider(input(body)?, call).await,
            "ListIdentityProviders" => self.list_identity_providers(input(body)?, call).await,
            "GetIdentityProviderByIdentifier" => self.get_identity_provider_by_identifier(input(body)?, call).await,
            "CreateResourceServer" => self.create_resource_server(input(body)?, call).await,
            "DescribeResourceServer" => self.describe_resource_server(input(body)?, call).await,
            "ListResourceServers" => self.list_resource_servers(input(body)?, call).await,
            "UpdateResourceServer" => self.update_resource_server(input(body)?, call).await,
            "DeleteResourceServer" => self.delete_resource_server(input(body)?, call).await,
            "AdminLinkProviderForUser" => self.admin_link_provider_for_user(input(body)?, call).await,
            "AdminDisableProviderForUser" => self.admin_disable_provider_for_user(input(body)?, call).await,
            other => Err(call.refuse(
                Reason::UnknownOperation,
                "action",
                format!("action {other:?} is not implemented"),
                "Unknown operation",
            )),
        }
    }
}
