#include "server/security.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace perennial {
namespace {

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("perennial_security_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(SecurityTest, TokenFileSkipsBlankLinesAndComments) {
  const std::string path = Write("tokens", "# old, remove after rollout\n old-1 \n\nnew-2\r\n");
  absl::StatusOr<TokenAuthenticator> auth = TokenAuthenticator::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(auth->enabled());
  EXPECT_EQ(auth->token_count(), 2u);
}

TEST_F(SecurityTest, EmptyTokenFileIsAnErrorNotAnOpenServer) {
  const absl::StatusOr<TokenAuthenticator> auth =
      TokenAuthenticator::FromFile(Write("tokens", "# none yet\n\n"));
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(auth.status().message().find("no token"), std::string::npos);
  EXPECT_EQ(TokenAuthenticator::FromFile((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SecurityTest, DefaultAuthenticatorAcceptsEverything) {
  EXPECT_FALSE(TokenAuthenticator().enabled());
  EXPECT_FALSE(TokenAuthenticator({"", ""}).enabled());
}

TEST_F(SecurityTest, CredentialsNeedCertAndKeyTogetherAndPemContents) {
  SecurityOptions o;
  EXPECT_TRUE(MakeServerCredentials(o).ok());
  EXPECT_EQ(DescribeSecurity(o), "plaintext, no token required");
  o.tls_client_ca_file = Write("ca.pem", "x");
  EXPECT_EQ(MakeServerCredentials(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = SecurityOptions();
  o.tls_cert_file = Write("cert.pem", "-----BEGIN CERTIFICATE-----\n");
  EXPECT_NE(MakeServerCredentials(o).status().message().find("both or neither"), std::string::npos);
  o.tls_key_file = Write("key.txt", "not pem");
  const absl::Status not_pem = MakeServerCredentials(o).status();
  EXPECT_EQ(not_pem.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(not_pem.message().find("--tls-key"), std::string::npos);
  o.tls_key_file = (dir_ / "missing.key").string();
  EXPECT_EQ(MakeServerCredentials(o).status().code(), absl::StatusCode::kNotFound);
  o.tls_client_ca_file = "ca.pem";
  o.auth_token_file = "tokens";
  EXPECT_EQ(DescribeSecurity(o), "mutual TLS, bearer token required");
}

}  // namespace
}  // namespace perennial
