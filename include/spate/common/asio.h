// SPDX-License-Identifier: Apache-2.0
//
// The one way into Boost.Asio (style.md §2.1). Boost 1.74's coroutine header
// needs <utility> before it under GCC 12, so nothing includes <boost/asio...>
// directly. Only the modules allowed to use Asio (cluster, groups, broker,
// server, client, apps) may include this file; it belongs to the separate
// CMake target spate_asio so the pure modules cannot reach it.

#pragma once

#include <utility>  // must precede Asio's coroutine support (GCC 12 + Boost 1.74)

// Boost 1.74 enables co_await under clang only with <experimental/coroutine>
// (libc++). clang 14 with libstdc++ 12 has C++20's <coroutine>, which Asio
// uses under GCC: tell it so (the fuzz preset builds the broker with clang).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace spate {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

template <typename T = void>
using awaitable = boost::asio::awaitable<T>;

inline constexpr auto use_awaitable = boost::asio::use_awaitable;
}  // namespace spate
