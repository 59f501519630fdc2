# Registration through the SDK: add_private_data_to_folder_start + add_private_data_to_folder_get_result.
# IDS: folder, integration, mode ("file": a path to a JSON import file, "dict": the JSON itself,
# "items": DataUploadItems built from a small spec), ignore_errors, cancel (cancel right away).
from encord import EncordUserClient
from encord.orm import storage as orm
from loupe_script import DOMAIN, IDS, SSH_PATH, result

user_client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=SSH_PATH, domain=DOMAIN)
folder = user_client.get_storage_folder(IDS["folder"])


def image_meta(block):
    return orm.CustomerProvidedImageMetadata(**block) if block else None


def data_items(spec):
    items = orm.DataUploadItems(skip_duplicate_urls=spec.get("skip_duplicate_urls", False))
    for image in spec.get("images", []):
        items.images.append(orm.DataUploadImage(
            object_url=image["url"], title=image.get("title"), client_metadata=image.get("metadata", {}),
            image_metadata=image_meta(image.get("image_metadata"))))
    for video in spec.get("videos", []):
        items.videos.append(orm.DataUploadVideo(
            object_url=video["url"], title=video.get("title"), client_metadata=video.get("metadata", {}),
            video_metadata=orm.CustomerProvidedVideoMetadata(**video["video_metadata"])))
    for audio in spec.get("audio", []):
        items.audio.append(orm.DataUploadAudio(object_url=audio["url"], title=audio.get("title")))
    for group in spec.get("image_groups", []):
        items.image_groups.append(orm.DataUploadImageGroup(
            images=[orm.DataUploadImageGroupImage(url=url) for url in group["urls"]], title=group["title"],
            client_metadata=group.get("metadata", {}), create_video=group.get("create_video", False)))
    for series in spec.get("dicom_series", []):
        items.dicom_series.append(orm.DataUploadDicomSeries(
            dicom_files=[orm.DataUploadDicomSeriesDicomFile(url=url, title=None) for url in series["urls"]],
            title=series["title"]))
    return items


mode = IDS["mode"]
private_files = {"file": lambda: IDS["path"], "dict": lambda: IDS["document"],
                 "items": lambda: data_items(IDS["items"])}[mode]()
job_id = folder.add_private_data_to_folder_start(
    integration_id=IDS["integration"], private_files=private_files, ignore_errors=IDS.get("ignore_errors", False))
if IDS.get("cancel"):
    folder.add_data_to_folder_job_cancel(job_id)
state = folder.add_private_data_to_folder_get_result(job_id, timeout_seconds=IDS.get("timeout", 120))
result({
    "job": str(job_id), "status": state.status.value,
    "items": [[str(item.item_uuid), item.name] for item in state.items_with_names],
    "errors": state.errors, "pending": state.units_pending_count, "done": state.units_done_count,
    "error_count": state.units_error_count, "cancelled": state.units_cancelled_count,
    "unit_errors": [[error.object_urls, error.error, error.action_description] for error in state.unit_errors],
})
