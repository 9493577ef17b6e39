from lamm.protocol import prompt
from lamm.protocol.prompts import train_system_message
from lamm.tasks import all_datasets, find_dataset


def test_meta_file_names_follow_official_rule():
    assert find_dataset("CelebA(Smile)").meta_file == "Facial_Classification_CelebA(Smile).json"
    assert find_dataset("LSP").meta_file == "Keypoints_Detection_LSP.json"
    assert find_dataset("LSP", "locating").meta_file == "Locating_LSP.json"
    assert find_dataset("ScanQA_multiplechoice").meta_file == "VQA_ScanQA_multiplechoice.json"
    assert len([d for d in all_datasets() if d.dim == "2d" and d.mode == "common"]) == 11


def test_prompts_are_verbatim_and_hash_checked():
    assert prompt("eval_2d_v1_constants", "CNT_QA") == "How many {} are there in this image?"
    assert find_dataset("LSP", "locating").system_message.startswith("\nYou are an AI visual assistant")
    assert train_system_message("normal")


def test_unknown_dataset_lists_valid_names():
    try:
        find_dataset("CIFAR100")
    except KeyError as exc:
        assert "CIFAR10 (common)" in str(exc)
    else:
        raise AssertionError("expected KeyError")


def test_chef_task_type_falls_back_to_latest_table():
    from lamm.protocol.prompts import prompts

    assert "keypoint_detection" not in prompts()["train_task_system_messages_v1"]
    latest = prompts()["train_task_system_messages_latest"]["keypoint_detection"]
    assert train_system_message("keypoint_detection") == latest
    assert (
        train_system_message("classification") == prompts()["train_task_system_messages_v1"]["classification"]
    )
