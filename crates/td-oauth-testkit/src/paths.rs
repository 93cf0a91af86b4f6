//! The paths the server answers on, in one leaf module: the handlers, the fault targets and the tests name
//! them without reaching into the server or its handlers.

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";
/// Path of the authorize endpoint.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Path of the protected resource.
pub const ME_PATH: &str = "/api/me";
/// Path of userinfo.
pub const USERS_ME_PATH: &str = "/users/me";
/// Path of the paginated user list.
pub const USERS_PATH: &str = "/users";
/// Path of the end-session endpoint.
pub const END_USER_SESSION_PATH: &str = "/oauth/end_user_session";
/// Path of the resource that takes STS tokens (no `Bearer` word).
pub const STS_ME_PATH: &str = "/sts/me";
/// Path of a misconfigured gateway's answer: a 400 Talkdesk error whose `code`, `message`, `description`,
/// `error` and `fields[]` all echo the `Authorization` header it received (and an `x-echo-authorization`
/// header that does too), for tests that check the token never comes back to a screen.
pub const ECHO_AUTHORIZATION_PATH: &str = "/echo/authorization";
