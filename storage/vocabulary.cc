// Store's `vocab` family: the replay vocabulary ("w/" + word) and named blobs ("b/" + name).
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "learner/base/status.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace perennial {

absl::StatusOr<size_t> Store::AddVocabulary(const std::vector<std::string>& words) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary word ", i, " is empty"));
    }
  }
  absl::MutexLock lock(&vocab_mu_);
  rocksdb::WriteBatch batch;
  absl::flat_hash_set<absl::string_view> added;
  std::string value;
  for (const std::string& word : words) {
    if (added.contains(word)) continue;
    const std::string key = absl::StrCat(kVocabWordPrefix, word);
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_->vocab, key, &value);
    if (s.ok()) continue;
    if (!s.IsNotFound()) return FromRocksDbStatus(s, "look up vocabulary word");
    batch.Put(cf_->vocab, key, "");
    added.insert(word);
  }
  if (added.empty()) return size_t{0};
  PERENNIAL_RETURN_IF_ERROR(
      FromRocksDbStatus(db_->Write(store_internal::DurableWrite(sync_writes_), &batch),
                        absl::StrCat("add ", added.size(), " vocabulary words")));
  return added.size();
}

absl::StatusOr<std::vector<std::string>> Store::ListVocabulary() const {
  std::vector<std::string> words;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_->vocab));
  for (it->Seek(kVocabWordPrefix);
       it->Valid() && absl::StartsWith(store_internal::View(it->key()), kVocabWordPrefix);
       it->Next()) {
    words.emplace_back(store_internal::View(it->key()).substr(sizeof(kVocabWordPrefix) - 1));
  }
  if (!it->status().ok()) return FromRocksDbStatus(it->status(), "list vocabulary");
  return words;
}

absl::Status Store::PutBlob(absl::string_view name, absl::string_view bytes) {
  if (name.empty()) return absl::InvalidArgumentError("blob name is empty");
  rocksdb::WriteBatch batch;
  batch.Put(cf_->vocab, absl::StrCat(kVocabBlobPrefix, name),
            rocksdb::Slice(bytes.data(), bytes.size()));
  return FromRocksDbStatus(db_->Write(store_internal::DurableWrite(sync_writes_), &batch),
                           absl::StrCat("write blob '", name, "'"));
}

absl::StatusOr<std::string> Store::GetBlob(absl::string_view name) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf_->vocab, absl::StrCat(kVocabBlobPrefix, name), &value);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("no blob named '", name, "'"));
  if (!s.ok()) return FromRocksDbStatus(s, absl::StrCat("read blob '", name, "'"));
  return value;
}

}  // namespace perennial
