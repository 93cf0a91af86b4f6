//! The macro a transport's test file declares a module's scenarios with: one `#[test]` function per
//! scenario, under the scenario's name, run with the file's driver.

/// Declares the scenarios of one module of this crate (`fault_matrix`, `provider_cases`, `api`,
/// `clock_skew` or `redirects`) as `#[test]` functions under their own names, each running its scenario with the given
/// [`Driver`](crate::Driver): `td_oauth_transport_tests::scenario_tests!(common::Async, api);`.
#[macro_export]
macro_rules! scenario_tests {
    ($driver:ty, fault_matrix) => {
        $crate::scenario_tests!(@each $driver, fault_matrix: fault_matrix,
            a_huge_expires_in_is_cached_no_longer_than_the_cap, expires_in_zero_every_time_costs_one_request_per_call);
    };
    ($driver:ty, provider_cases) => {
        $crate::scenario_tests!(@each $driver, provider_cases: provider_cases, with_token_lends_the_cached_token);
    };
    ($driver:ty, api) => {
        $crate::scenario_tests!(@each $driver, api: userinfo_needs_a_user_token, a_list_is_followed_along_next_to_its_end,
            next_on_another_origin_is_not_followed, the_page_bound_and_a_loop_stop_the_list,
            talkdesk_errors_are_typed_and_readable, lifecycle_calls_are_recorded_and_409_means_done,
            sts_tokens_go_without_bearer, a_user_session_is_ended, an_error_never_shows_the_token_the_gateway_echoes);
    };
    ($driver:ty, clock_skew) => {
        $crate::scenario_tests!(@each $driver, clock_skew: tokens_come_with_the_endpoints_clock_ten_minutes_ahead_or_behind,
            a_small_offset_changes_nothing_and_basic_authentication_needs_no_correction,
            beyond_an_hour_nothing_is_signed_and_the_error_names_the_offset);
    };
    ($driver:ty, signers) => {
        $crate::scenario_tests!(@each $driver, signers: a_signer_outside_memory_gets_tokens,
            a_signature_of_the_wrong_form_is_refused_before_sending,
            a_signature_that_does_not_verify_with_the_public_key_is_never_sent,
            a_failing_signer_is_a_signer_error_retried_only_when_it_says_so,
            a_signer_that_hangs_past_the_timeout_times_out);
    };
    ($driver:ty, key_rotation) => {
        $crate::scenario_tests!(@each $driver, key_rotation: a_swapped_key_file_signs_the_next_token,
            of_several_keys_the_activated_one_signs);
    };
    ($driver:ty, redirects) => {
        $crate::scenario_tests!(@each $driver, redirects: redirects_to_another_port_are_refused_and_never_reach_it,
            a_following_caller_client_still_gets_no_token_from_elsewhere);
    };
    (@each $driver:ty, $module:ident: $($scenario:ident),+) => {
        $(
            #[test]
            fn $scenario() {
                $crate::$module::$scenario::<$driver>();
            }
        )+
    };
}
